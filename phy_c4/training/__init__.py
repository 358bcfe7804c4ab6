"""Training and evaluating models with C4's semi-supervised recipe (``phy-c4 train|evaluate``)."""
