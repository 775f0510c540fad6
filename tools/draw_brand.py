"""Draw the integration's brand images: a house whose door is a keyhole, on a rounded tile.

`python -m tools.draw_brand` writes every image Home Assistant serves for a custom
integration into custom_components/auth_oidc/brand/: icon.png (256 px), icon@2x.png (512 px),
logo.png (128 px high), logo@2x.png (256 px high) and their dark_ variants for dark themes.
Shapes are drawn four times larger and scaled down, which smooths their edges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

BRAND_DIR: Final = Path(__file__).resolve().parents[1] / "custom_components/auth_oidc/brand"
OVERSAMPLING: Final = 4
TILE_LIGHT: Final = (23, 105, 170, 255)
TILE_DARK: Final = (64, 156, 222, 255)
HOUSE: Final = (255, 255, 255, 255)
TEXT_LIGHT: Final = (33, 37, 41, 255)
TEXT_DARK: Final = (241, 243, 245, 255)
WORDMARK: Final = "OpenID Connect SSO"


def _mark(side: int, tile: tuple[int, int, int, int]) -> Image.Image:
    """Return the square mark, `side` pixels wide, drawn at the oversampled size."""
    big = side * OVERSAMPLING
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = big / 32
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(7 * unit), fill=tile)
    # House: a roof triangle over a square body.
    roof = [(16 * unit, 5 * unit), (28 * unit, 15.5 * unit), (4 * unit, 15.5 * unit)]
    draw.polygon(roof, fill=HOUSE)
    draw.rectangle((7.5 * unit, 14.5 * unit, 24.5 * unit, 27 * unit), fill=HOUSE)
    # The door is a keyhole, cut out in the tile's colour: a round head over a tapering slot.
    draw.ellipse((13.25 * unit, 15.5 * unit, 18.75 * unit, 21 * unit), fill=tile)
    slot = [(14.75 * unit, 19.5 * unit), (17.25 * unit, 19.5 * unit)]
    slot += [(18.5 * unit, 27 * unit), (13.5 * unit, 27 * unit)]
    draw.polygon(slot, fill=tile)
    return image


def draw_icon(side: int, *, dark: bool) -> Image.Image:
    """Return the square icon, `side` pixels wide."""
    mark = _mark(side, TILE_DARK if dark else TILE_LIGHT)
    return mark.resize((side, side), Image.Resampling.LANCZOS)


def draw_logo(height: int, *, dark: bool) -> Image.Image:
    """Return the logo: the mark and the wordmark, `height` pixels high."""
    big = height * OVERSAMPLING
    font = ImageFont.load_default(size=round(big * 0.36))
    left, top, right, bottom = (round(edge) for edge in font.getbbox(WORDMARK))
    gap = big // 4
    image = Image.new("RGBA", (big + gap + right - left, big), (0, 0, 0, 0))
    image.alpha_composite(_mark(height, TILE_DARK if dark else TILE_LIGHT))
    ImageDraw.Draw(image).text(
        (big + gap - left, (big - (bottom - top)) // 2 - top),
        WORDMARK,
        font=font,
        fill=TEXT_DARK if dark else TEXT_LIGHT,
    )
    width = image.width // OVERSAMPLING
    return image.resize((width, height), Image.Resampling.LANCZOS)


def draw_all(directory: Path = BRAND_DIR) -> list[Path]:
    """Write every brand image into `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for dark in (False, True):
        prefix = "dark_" if dark else ""
        images = {
            "icon.png": draw_icon(256, dark=dark),
            "icon@2x.png": draw_icon(512, dark=dark),
            "logo.png": draw_logo(128, dark=dark),
            "logo@2x.png": draw_logo(256, dark=dark),
        }
        for name, image in images.items():
            path = directory / f"{prefix}{name}"
            image.save(path, optimize=True)
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in draw_all():
        print(written_path.relative_to(BRAND_DIR.parents[2]))
