// Package laingfile2llb converts a validated Laingfile target into BuildKit LLB, as
// dockerfile2llb converts a Dockerfile: the Nix build step, the plan of one layer per store
// path, the layer states, the customisation layer for the image kind, the build-context copies,
// their merge, and the image configuration. Every function is pure (no BuildKit client), so the
// LLB shape is unit-tested without a daemon.
package laingfile2llb
