package frontend

import (
	"maps"
	"testing"

	"github.com/laingville/laingfile/nixsets"
)

func TestIdentity(t *testing.T) {
	release := pinChoice{Pin: nixsets.DefaultPin(), From: "the release's pin"}
	releaseRev := nixsets.DefaultPin().Rev
	releaseURL := "https://github.com/NixOS/nixpkgs/archive/" + releaseRev + ".tar.gz"
	tests := []struct {
		name       string
		version    string
		pin        pinChoice
		opts       map[string]string
		wantLine   string
		wantLabels map[string]string
	}{
		{
			name:     "the release's pins",
			version:  "v1.4.0",
			pin:      release,
			wantLine: "laingfile v1.4.0: nixpkgs " + releaseRev[:12] + " (the release's pin), builder nixos/nix:2.28.3",
			wantLabels: map[string]string{
				LabelVersion: "v1.4.0",
				LabelNixpkgs: releaseURL,
				LabelBuilder: nixsets.DefaultBuilderImage,
			},
		},
		{
			name:     "the Laingfile's rev",
			version:  "v1.4.0",
			pin:      pinChoice{Pin: nixsets.Pin{Rev: testRev, SHA256: testHash}, From: "nixpkgs.rev"},
			wantLine: "laingfile v1.4.0: nixpkgs 0123456789ab (nixpkgs.rev), builder nixos/nix:2.28.3",
			wantLabels: map[string]string{
				LabelVersion: "v1.4.0",
				LabelNixpkgs: "https://github.com/NixOS/nixpkgs/archive/" + testRev + ".tar.gz",
				LabelBuilder: nixsets.DefaultBuilderImage,
			},
		},
		{
			name:     "a url pin",
			version:  "dev",
			pin:      pinChoice{Pin: nixsets.Pin{URL: "https://x.org/n.tar.gz", SHA256: testHash}, From: "nixpkgs.url"},
			wantLine: "laingfile dev: nixpkgs https://x.org/n.tar.gz (nixpkgs.url), builder nixos/nix:2.28.3",
			wantLabels: map[string]string{
				LabelVersion: "dev",
				LabelNixpkgs: "https://x.org/n.tar.gz",
				LabelBuilder: nixsets.DefaultBuilderImage,
			},
		},
		{
			name:    "named contexts replace both",
			version: "v2.0.1",
			pin:     release,
			opts: map[string]string{
				"context:nixpkgs":     "local:nixpkgs",
				"context:nix-builder": "docker-image://127.0.0.1:5000/laingfile/nix-builder:test",
				"filename":            "Laingfile",
			},
			wantLine: `laingfile v2.0.1: nixpkgs from the "nixpkgs" build context (local:nixpkgs), replacing ` + releaseRev[:12] +
				` (the release's pin), builder from the "nix-builder" build context (docker-image://127.0.0.1:5000/laingfile/nix-builder:test)`,
			wantLabels: map[string]string{
				LabelVersion: "v2.0.1",
				LabelNixpkgs: "build context: local:nixpkgs",
				LabelBuilder: "build context: docker-image://127.0.0.1:5000/laingfile/nix-builder:test",
			},
		},
		{
			name:    "a platform's context, credentials hidden",
			version: "v1.0.0",
			pin:     release,
			opts: map[string]string{
				"context:nixpkgs::linux/amd64": "https://user:token@git.example/nixpkgs.git#main",
			},
			wantLine: `laingfile v1.0.0: nixpkgs from the "nixpkgs" build context (https://xxxxx@git.example/nixpkgs.git#main), replacing ` +
				releaseRev[:12] + ` (the release's pin), builder nixos/nix:2.28.3`,
			wantLabels: map[string]string{
				LabelVersion: "v1.0.0",
				LabelNixpkgs: "build context: https://xxxxx@git.example/nixpkgs.git#main",
				LabelBuilder: nixsets.DefaultBuilderImage,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newIdentity(tt.version, tt.pin, tt.opts)
			if got := id.line(); got != tt.wantLine {
				t.Errorf("line:\n %s\nwant:\n %s", got, tt.wantLine)
			}
			if got := id.labels(); !maps.Equal(got, tt.wantLabels) {
				t.Errorf("labels:\n %v\nwant:\n %v", got, tt.wantLabels)
			}
		})
	}
}

func TestShortImage(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"docker.io/nixos/nix:2.28.3@sha256:e623d73af9cac82d1b50784c83e0cf2a4b83bfd2cfe8d5b67809a2fc94e043ac", "nixos/nix:2.28.3"},
		{"docker.io/library/alpine:3", "alpine:3"},
		{"ghcr.io/acme/nix:2.28", "ghcr.io/acme/nix:2.28"},
	}
	for _, tt := range tests {
		if got := shortImage(tt.ref); got != tt.want {
			t.Errorf("shortImage(%q) = %q, want %q", tt.ref, got, tt.want)
		}
	}
}
