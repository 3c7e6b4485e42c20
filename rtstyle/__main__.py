import sys

from rtstyle.cli import main

sys.exit(main())
