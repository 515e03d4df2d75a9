"""Vibration: bearing fault classification, anomaly detection and GAN augmentation."""
