"""Training side of rtstyle (installed as `rtstyle_train`): VGG-16 loss network, losses, Gatys reference."""
