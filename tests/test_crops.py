"""The test-time crops of GoogLeNet section 7 (144), AlexNet (10) and the single centre crop."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from googlenet.errors import UserError
from googlenet.evaluation import CropProtocol


def coded_image(height: int, width: int) -> torch.Tensor:
    """An image whose every pixel is different, so a crop's position can be read back."""
    return torch.arange(3 * height * width, dtype=torch.float32).reshape(3, height, width) / (3 * height * width)


def test_counts_and_proportional_scales():
    assert CropProtocol(144).scales == (256, 288, 320, 352)
    assert CropProtocol(144).num_crops == 144
    assert CropProtocol(144, 28).scales == (32, 36, 40, 44)  # 256 * 28 / 224 = 32 ...
    assert CropProtocol(10, 28).scales == (32,) and CropProtocol(10, 28).num_crops == 10
    assert CropProtocol(1, 299).scales == (342,)
    assert CropProtocol(144, 28, scales=(28, 40)).num_crops == 72  # 36 per scale
    image = torch.rand(3, 50, 70)
    for crops in (1, 10, 144):
        out = CropProtocol(crops, 32)(image)
        assert out.shape == (crops, 3, 32, 32)


def test_144_landscape_squares_views_and_mirrors():
    # Shorter side already 64 at scale 64: no resize, so every crop is an exact slice of the image.
    image = coded_image(64, 96)
    crops = CropProtocol(144, 56, scales=(64,))(image)
    assert crops.shape == (36, 3, 56, 56)
    squares = [image[:, :, 0:64], image[:, :, 16:80], image[:, :, 32:96]]  # left, centre, right
    for s, square in enumerate(squares):
        views = crops[12 * s: 12 * s + 12]
        expected = [square[:, :56, :56], square[:, :56, 8:], square[:, 8:, :56], square[:, 8:, 8:],
                    square[:, 4:60, 4:60], TF.resize(square, [56, 56], antialias=True)]
        for v, want in enumerate(expected):
            torch.testing.assert_close(views[2 * v], want)
            torch.testing.assert_close(views[2 * v + 1], want.flip(-1), atol=1e-6, rtol=0)  # its mirror


def test_144_portrait_takes_top_centre_bottom():
    image = coded_image(96, 64)
    crops = CropProtocol(144, 56, scales=(64,))(image)
    for s, top in enumerate((0, 16, 32)):
        square = image[:, top:top + 64, :]
        torch.testing.assert_close(crops[12 * s], square[:, :56, :56])
        torch.testing.assert_close(crops[12 * s + 9], square[:, 4:60, 4:60].flip(-1))


def test_144_resizes_shorter_side_to_each_scale():
    image = torch.rand(3, 40, 60)
    protocol = CropProtocol(144, 56)
    assert protocol.scales == (64, 72, 80, 88)
    crops = protocol(image)
    for i, scale in enumerate(protocol.scales):
        resized = TF.resize(image.unsqueeze(0), [scale], antialias=True)[0]
        assert resized.shape[-2:] == (scale, scale * 3 // 2)
        torch.testing.assert_close(crops[36 * i], resized[:, :56, :56])  # left square, top-left corner


def test_square_image_counts_its_one_square_three_times():
    protocol = CropProtocol(144, 28)
    images = torch.rand(4, 1, 28, 28)
    weighted = list(protocol.weighted_views(images))
    assert len(weighted) == 48 and sum(w for _, w in weighted) == 144
    assert len(list(protocol.views(images))) == 144
    landscape = list(protocol.weighted_views(torch.rand(1, 3, 28, 40)))
    assert len(landscape) == 144 and all(w == 1 for _, w in landscape)


def test_ten_crop_is_alexnets():
    image = torch.rand(3, 60, 80)
    square = TF.center_crop(TF.resize(image, [64], antialias=True), [64])
    expected = torch.stack(list(v2.TenCrop(56)(square)))
    torch.testing.assert_close(CropProtocol(10, 56)(image), expected)


def test_single_crop_is_resize_then_centre_crop():
    image = torch.rand(3, 240, 320)
    expected = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(image)
    torch.testing.assert_close(CropProtocol(1)(image)[0], expected)
    assert CropProtocol(1, 28, scales=(28,))(image[:, :28, :28]).equal(image[None, :, :28, :28])  # whole image


def test_bad_settings_name_the_fix():
    with pytest.raises(UserError, match="smaller than the 224-pixel crop.*--scales"):
        CropProtocol(144, 224, scales=(200, 256))
    with pytest.raises(UserError, match="must be 1, 10 or 144"):
        CropProtocol(7)
    with pytest.raises(UserError, match="one scale"):
        CropProtocol(10, 224, scales=(256, 288))
