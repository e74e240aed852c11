# Written by `laing shell` because there was no shell.nix; yours to edit. The shell comes from
# .laingfile/, which `laing shell` regenerates from the Laingfile.
{ system ? builtins.currentSystem }:
let
  shells = import ./.laingfile/devshells.nix;
in
shells.${system}.default or (throw "the Laingfile's shells are for ${builtins.concatStringsSep ", " (builtins.attrNames shells)}, not ${system}")
