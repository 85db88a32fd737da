#!/usr/bin/env python3
"""Makes tests/corrupt/image.png, the valid 28x28 grey image that the corrupt-input corpus truncates.

Run with Debian's python3 (python3-pil, python3-numpy):  /usr/bin/python3 tests/corrupt/make_image.py
"""
import os

import numpy as np
from PIL import Image

rng = np.random.default_rng(0)
Image.fromarray((rng.random((28, 28)) * 255).astype("uint8")).save(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "image.png"))
