# Written by `laing shell` because there was no flake.nix; yours to edit. The shells come from
# .laingfile/, which `laing shell` regenerates from the Laingfile.
{
  description = "The Laingfile's environment without a container";
  outputs = { self }: {
    devShells = import ./.laingfile/devshells.nix;
  };
}
