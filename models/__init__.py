"""Model zoo: every family registers its builders on import (see `models.registry`)."""
from models.registry import create_model, deployables, list_models, register_model  # noqa: F401

# Importing a family registers it.
from models import (  # noqa: F401,E402
    autoencoder, cnn, efficientnet, gan, mlp, mobilenet, perceptron, resnet, rnn, vae, vit,
)
