"""Training: fit, evaluate, log and promote nbo's models."""

# The stages `nbo train` shows for every model, in order.
TRAINING_STEPS = ("loading libraries", "training set", "fit", "evaluate", "log")
