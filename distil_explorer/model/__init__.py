"""The Keras model: layers, backbone, presets and input validation."""
