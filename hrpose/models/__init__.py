"""hrpose models: backbones, necks and the keypoint RoI head (hrpose.registry.MODELS)."""
