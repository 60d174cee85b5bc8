"""From fused volumes to the MIMIR 2D image (preprocessing.md sections 7-9).

- :mod:`mimir.projection.fractions`: fat fraction and the Otsu body mask;
- :mod:`mimir.projection.image2d`: the three-channel 256 x 256 uint8 image.
"""
