# The expression the Laingfile build step evaluates. The frontend writes request.json:
#   { system, nixpkgs: { path } | { url, sha256 }, config, overlays: [file], packages: [{ attr } | { file }],
#     exclude: [attr], info: [attr] }
# and reads back `report` (problems, store paths of well-known packages) before it realises
# `profile`, a Nix user environment of every requested package: the same kind of store path that
# `nix-env` makes, so that a devcontainer's Nix sees a normal profile.
{ requestFile }:
let
  req = builtins.fromJSON (builtins.readFile requestFile);
  src =
    if req.nixpkgs ? path then req.nixpkgs.path
    else builtins.fetchTarball { inherit (req.nixpkgs) url sha256; };
  pkgs = import src {
    inherit (req) system config;
    overlays = map import req.overlays ++ builtins.filter (o: o != null) [ sudoWithoutPam ];
  };

  # A sudo the frontend installs setuid outside the store (it is in `exclude`) has no PAM
  # configuration to use, so it is built without PAM, as nixpkgs' sudo allows. Last, so that
  # it applies to the user's overlays' sudo too.
  sudoWithoutPam =
    if !(builtins.elem "sudo" (req.exclude or [ ])) then null
    else final: prev: {
      sudo =
        let o = prev.sudo.override or null; in
        if builtins.isAttrs o && (o.__functionArgs or { }) ? pam then o { pam = null; } else prev.sudo;
    };

  splitAttr = s: builtins.filter builtins.isString (builtins.split "\\." s);

  # Walks an attribute path through pkgs. On a miss it says where, with the names that exist
  # there, so that the frontend can suggest the nearest one.
  lookup = attr:
    let
      go = set: names: done:
        if names == [ ] then { ok = true; value = set; }
        else
          let n = builtins.head names; in
          if builtins.isAttrs set && builtins.hasAttr n set
          then go (builtins.getAttr n set) (builtins.tail names) (done ++ [ n ])
          else {
            ok = false; problem = "missing"; inherit attr; prefix = done; name = n;
            candidates = if builtins.isAttrs set then builtins.attrNames set else [ ];
          };
      found = go pkgs (splitAttr attr) [ ];
      isDrv = v: builtins.isAttrs v && (v.type or null) == "derivation";
    in
    if !found.ok then found
    else if isDrv found.value then found // { inherit attr; }
    else {
      ok = false; problem = "notPackage"; inherit attr; prefix = splitAttr attr; name = "";
      candidates = if builtins.isAttrs found.value then builtins.attrNames found.value else [ ];
    };

  resolve = p:
    if p ? file then { ok = true; attr = p.file; value = pkgs.callPackage p.file { }; }
    else lookup p.attr;

  requested = map resolve req.packages;
  problems = map (r: removeAttrs r [ "value" "ok" ]) (builtins.filter (r: !r.ok) requested);

  # An explicitly chosen output (stdenv.cc.cc.lib) is installed alone; otherwise the outputs the
  # package asks for, as nix-env does.
  outputsOf = p:
    if (p.outputName or "out") != builtins.head (p.outputs or [ "out" ]) then [ p.outputName ]
    else p.meta.outputsToInstall or [ (p.outputName or "out") ];
  outPathsOf = p: map (o: (builtins.getAttr o p).outPath) (outputsOf p);

  excluded = r: builtins.elem r.attr (req.exclude or [ ]);
  installed = builtins.filter (r: !excluded r) requested;

  # Earlier packages win file collisions: priorities follow the order of the Laingfile.
  profile = derivation {
    name = "laingfile-profile";
    system = "builtin";
    builder = "builtin:buildenv";
    manifest = builtins.toFile "manifest.nix" "[ ]";
    derivations = builtins.concatLists (builtins.genList
      (i:
        let p = (builtins.elemAt installed i).value; outs = outPathsOf p; in
        [ "true" (i + 1) (builtins.length outs) ] ++ outs)
      (builtins.length installed));
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  # An attribute that fails to evaluate counts as missing; deepSeq makes the store paths fail
  # inside tryEval rather than later, when the report is printed.
  infoOf = attr:
    let r = builtins.tryEval (let l = lookup attr; v = if l.ok then outPathsOf l.value else [ ]; in builtins.deepSeq v v);
    in if r.success then r.value else [ ];
in
{
  inherit profile;
  # Requested packages kept out of the profile (see request.exclude): realised with it, since
  # the image still carries them, only not on PATH.
  excluded = map (r: r.value) (builtins.filter excluded requested);
  problemCount = builtins.length problems;
  report = {
    inherit problems;
    packages = map (r: { inherit (r) attr; paths = outPathsOf r.value; }) (builtins.filter (r: r.ok) requested);
    info = builtins.listToAttrs (map (a: { name = a; value = infoOf a; }) req.info);
  };
}
