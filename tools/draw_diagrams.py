"""Draw the README's diagrams of the model from its config: the data flow and one block.

    python tools/draw_diagrams.py                 # docs/figures/vit_data_flow.png, vit_block.png
    python tools/draw_diagrams.py --out some/dir  # elsewhere

The shapes on them come from ViTConfig(), the default model, through
numpyvit.insight.diagrams; rerun this after changing the defaults, and the pictures follow.
"""
import argparse
import sys
from pathlib import Path

from numpyvit import ViTConfig
from numpyvit.insight.diagrams import draw_block, draw_data_flow

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder to write the PNGs to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config = ViTConfig()
    for name, fig in (("vit_data_flow.png", draw_data_flow(config)), ("vit_block.png", draw_block(config))):
        path = args.out / name
        fig.savefig(path, dpi=100)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
