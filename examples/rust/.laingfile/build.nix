# The expression the Laingfile build step evaluates. The frontend writes request.json:
#   { system, nixpkgs: { path } | { url, sha256 }, config, overlays: [file], packages: [{ attr } | { file }],
#     exclude: [attr], info: [attr] }
# and reads back `report` (problems, store paths of well-known packages) before anything is
# realised. build.sh then realises `realise`: the profile, a Nix user environment of every
# requested package (the same kind of store path that `nix-env` makes, so that a devcontainer's
# Nix sees a normal profile), and the outputs of the packages kept out of it.
#
# Nothing here overrides a package: every store path the image gets is one that the pinned
# nixpkgs (with the Laingfile's overlays) defines, so the binary cache has it.
{ requestFile }:
let
  req = builtins.fromJSON (builtins.readFile requestFile);
  src =
    if req.nixpkgs ? path then req.nixpkgs.path
    else builtins.fetchTarball { inherit (req.nixpkgs) url sha256; };
  pkgs = import src {
    inherit (req) system config;
    overlays = map import req.overlays;
  };

  splitAttr = s: builtins.filter builtins.isString (builtins.split "\\." s);
  isDrv = v: builtins.isAttrs v && (v.type or null) == "derivation";
  # The value of an expression, or null when evaluating it throws (an alias that was removed, a
  # package that refuses to evaluate on this system or with this config).
  attempt = v: let t = builtins.tryEval v; in if t.success then t.value else null;

  # Walks an attribute path through pkgs. On a miss it says where, with the names that exist
  # there, so that the frontend can suggest the nearest one. `output` is set when the last name
  # selects an output of the derivation before it (glibc.out, stdenv.cc.cc.lib): that output
  # alone is installed.
  lookup = attr:
    let
      go = set: names: done:
        if names == [ ] then { ok = true; value = set; output = null; }
        else
          let
            n = builtins.head names;
            here = attempt (builtins.isAttrs set && builtins.hasAttr n set);
            next = attempt (builtins.getAttr n set);
            found = go next (builtins.tail names) (done ++ [ n ]);
          in
          if here == null || (here && next == null) then throws attr (done ++ [ n ])
          else if here then
            if builtins.tail names == [ ] && isDrv set && builtins.elem n (set.outputs or [ ])
            then found // { output = n; }
            else found
          else {
            ok = false; problem = "missing"; inherit attr; prefix = done; name = n;
            candidates = if builtins.isAttrs set then builtins.attrNames set else [ ];
          };
      found = go pkgs (splitAttr attr) [ ];
    in
    if !found.ok then found
    else if attempt (isDrv found.value) == null then throws attr (splitAttr attr)
    else if isDrv found.value then found // { inherit attr; }
    else {
      ok = false; problem = "notPackage"; inherit attr; prefix = splitAttr attr; name = "";
      candidates = if builtins.isAttrs found.value then builtins.attrNames found.value else [ ];
    };

  throws = attr: prefix: { ok = false; problem = "throws"; inherit attr prefix; name = ""; candidates = [ ]; system = req.system; };

  # The outputs a requested package installs: an explicitly selected output alone; a package
  # that is itself a non-default output (an alias of gcc.lib) that output; otherwise the outputs
  # the package asks for, as nix-env does (glibc: only `bin`).
  outputsOf = r:
    let p = r.value; in
    if r.output != null then [ r.output ]
    else if (p.outputName or "out") != builtins.head (p.outputs or [ "out" ]) then [ p.outputName ]
    else p.meta.outputsToInstall or [ (p.outputName or "out") ];
  outputValues = r: map (o: builtins.getAttr o r.value) (outputsOf r);
  outPathsOf = r: map (v: v.outPath) (outputValues r);

  # Why a package that exists cannot be used, as nixpkgs' meta checks decide it; "throws" when
  # none of them explains the failure (Nix's own message then says why).
  unavailable = r:
    let
      meta = attempt (r.value.meta or { });
      m = if builtins.isAttrs meta then meta else { };
      toList = x: if builtins.isList x then x else [ x ];
      licenses = builtins.filter builtins.isAttrs (toList (m.license or [ ]));
      unfree = builtins.filter (l: !(l.free or true)) licenses;
      platforms = builtins.filter builtins.isString (m.platforms or [ ]);
      badPlatforms = builtins.filter builtins.isString (m.badPlatforms or [ ]);
      vulnerabilities = m.knownVulnerabilities or [ ];
      name = let n = attempt (r.value.name or r.attr); in if builtins.isString n then n else r.attr;
      problem =
        if unfree != [ ] && !(req.config.allowUnfree or false) then
          { problem = "unfree"; details = map (l: l.shortName or l.spdxId or "unfree") unfree; }
        else if m.broken or false then { problem = "broken"; details = [ ]; }
        else if (platforms != [ ] && !builtins.elem req.system platforms) || builtins.elem req.system badPlatforms then
          { problem = "unsupported"; details = platforms; }
        else if vulnerabilities != [ ] then { problem = "insecure"; details = [ name ] ++ vulnerabilities; }
        else { problem = "throws"; details = [ ]; };
      checked = attempt (builtins.deepSeq problem problem);
    in
    { ok = false; inherit (r) attr; name = ""; prefix = splitAttr r.attr; candidates = [ ]; system = req.system; }
    // (if checked == null then { problem = "throws"; details = [ ]; } else checked);

  # A found package whose outputs cannot be evaluated is a problem, not an evaluation error:
  # deepSeq makes the store paths fail inside tryEval rather than later, when the report is
  # printed.
  resolve = p:
    let
      r =
        if p ? file then { ok = true; attr = p.file; output = null; value = pkgs.callPackage p.file { }; }
        else lookup p.attr;
    in
    if !r.ok then r
    else if attempt (builtins.deepSeq (outPathsOf r) true) == null then unavailable r
    else r;

  requested = map resolve req.packages;
  # Each problem has an id that names the file with Nix's own message about it (see build.sh).
  problems = map (r: removeAttrs r [ "value" "ok" "output" ] // { id = builtins.hashString "sha256" r.attr; })
    (builtins.filter (r: !r.ok) requested);

  usable = builtins.filter (r: r.ok) requested;
  excluded = r: builtins.elem r.attr (req.exclude or [ ]);
  installed = builtins.filter (r: !excluded r) usable;
  kept = builtins.filter excluded usable;

  # Earlier packages win file collisions: priorities follow the order of the Laingfile.
  profile = derivation {
    name = "laingfile-profile";
    system = "builtin";
    builder = "builtin:buildenv";
    manifest = builtins.toFile "manifest.nix" "[ ]";
    derivations = builtins.concatLists (builtins.genList
      (i:
        let outs = outPathsOf (builtins.elemAt installed i); in
        [ "true" (i + 1) (builtins.length outs) ] ++ outs)
      (builtins.length installed));
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  # What the image's SBOM says of a store path comes from the derivation it is an output of. The
  # closure's paths are outputs of the requested packages, of the derivations reachable from
  # them through the inputs nixpkgs leaves on a package, and of the C library and compiler
  # runtime stdenv links everything against. Whatever fails to evaluate is left out.
  inputLists = [ "buildInputs" "propagatedBuildInputs" "nativeBuildInputs" "propagatedNativeBuildInputs" "depsHostHost" "depsHostHostPropagated" ];
  drvKey = v: let k = attempt (builtins.unsafeDiscardStringContext v.drvPath); in if builtins.isString k then k else null;
  node = v: let k = drvKey v; in if k == null then [ ] else [ { key = k; value = v; } ];
  inputsOf = v: builtins.concatMap
    (n: let l = attempt (v.${n} or [ ]); in
      if builtins.isList l then builtins.filter (x: attempt (isDrv x) == true) l else [ ])
    inputLists;
  stdenvRuntime = builtins.filter (x: attempt (isDrv x) == true)
    [ (attempt pkgs.stdenv.cc.libc) (attempt pkgs.stdenv.cc.cc) ];
  reachable = builtins.genericClosure {
    startSet = builtins.concatMap node (map (r: r.value) usable ++ stdenvRuntime);
    operator = item: builtins.concatMap node (inputsOf item.value);
  };
  licenseOf = l:
    if builtins.isString l then { shortName = l; }
    else if builtins.isAttrs l then
      builtins.intersectAttrs { spdxId = null; shortName = null; fullName = null; } l
    else { };
  describe = item:
    let
      v = item.value;
      m = let x = attempt (v.meta or { }); in if builtins.isAttrs x then x else { };
      str = x: let y = attempt x; in if builtins.isString y then y else "";
      licenses = let l = attempt (m.license or [ ]); in
        map licenseOf (if builtins.isList l then l else [ l ]);
      d = {
        name = str v.name;
        pname = str (v.pname or "");
        version = str (v.version or "");
        outputs = builtins.listToAttrs (map
          (o: { name = o; value = builtins.unsafeDiscardStringContext (builtins.getAttr o v).outPath; })
          (v.outputs or [ "out" ]));
        inherit licenses;
        homepage = str (let h = m.homepage or ""; in if builtins.isList h then builtins.head h else h);
        description = str (m.description or "");
      };
      checked = attempt (builtins.deepSeq d d);
    in
    if checked == null then [ ] else [ checked ];

  # An attribute that fails to evaluate counts as missing.
  infoOf = attr:
    let
      l = lookup attr;
      paths = attempt (let v = if l.ok then outPathsOf l else [ ]; in builtins.deepSeq v v);
    in
    if paths == null then [ ] else paths;
in
{
  # The derivations to realise, each with exactly the outputs the image gets (nix-instantiate
  # prints them as drv!output): the profile, and the packages kept out of it (a devcontainer's
  # sudo, installed setuid outside the store), which the image still carries, only not on PATH.
  realise = [ profile ] ++ builtins.concatMap outputValues kept;

  # Nix's own message about each problem, by id: evaluating explain.<id> fails the way using
  # the package fails (build.sh keeps the message for the frontend).
  explain = builtins.listToAttrs (map
    (p: {
      name = builtins.hashString "sha256" (p.attr or p.file);
      value =
        let v = if p ? file then pkgs.callPackage p.file { } else builtins.foldl' (set: n: builtins.getAttr n set) pkgs (splitAttr p.attr);
        in builtins.seq v.drvPath true;
    })
    req.packages);

  # The derivations the image's store paths come from, with their names and meta, for its SBOM
  # (build.sh writes it as package-meta.json when the build asks for one).
  packageMeta = builtins.concatMap describe reachable;

  report = {
    inherit problems;
    profile = profile.outPath;
    # The store paths whose closure is the image: the profile and the kept-out outputs.
    roots = [ profile.outPath ] ++ builtins.concatMap outPathsOf kept;
    packages = map (r: { inherit (r) attr; paths = outPathsOf r; }) usable;
    info = builtins.listToAttrs (map (a: { name = a; value = infoOf a; }) req.info);
  };
}
