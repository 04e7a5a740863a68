"""Recognition models: the TSM ResNet backbone, MANet and the dual-path body-entity network."""
