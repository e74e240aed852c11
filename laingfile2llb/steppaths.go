package laingfile2llb

// Where the Nix build step finds what a NixRequest names, for tools that evaluate the build
// expression outside the step (`laing shell`) and map the request's paths to their own places.
const (
	// StepOverlaysDir holds the built-in overlays as NAME.nix.
	StepOverlaysDir = stepInputDir + "/overlays"
	// StepContextDir is the build context.
	StepContextDir = stepContextDir
	// StepNixpkgsDir is the nixpkgs source tree of WithNixpkgsDir (the `nixpkgs` named context).
	StepNixpkgsDir = stepNixpkgsDir
)
