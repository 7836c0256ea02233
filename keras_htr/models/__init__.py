"""Line recognition models."""
