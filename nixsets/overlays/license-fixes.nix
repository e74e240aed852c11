# license-fixes: rebuild packages without copyleft build options so that images can be shipped
# in proprietary products (for example `ffmpeg.override { withGPL = false; }`). Only packages
# that exist in the package set are overridden, so the overlay works with any nixpkgs.
final: prev:
if prev ? ffmpeg && prev.ffmpeg ? override
then { ffmpeg = prev.ffmpeg.override { withGPL = false; }; }
else { }
