package laingfile2llb

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// ImageInput is what the image configuration is made from.
type ImageInput struct {
	Target   *laingfile.Target
	Platform ocispecs.Platform
	Facts    Facts
	Layers   []Layer
	// Created is the image's creation time: SOURCE_DATE_EPOCH, else Unix 1.
	Created time.Time
	// Pin is the nixpkgs the image was built from, for NIX_PATH and labels (the zero Pin when
	// a build context replaced it).
	Pin nixsets.Pin
	// ExtraLabels come from the build command (--label).
	ExtraLabels map[string]string
	// FrontendLabels name the frontend release, nixpkgs and builder; --label and the
	// Laingfile's labels override them.
	FrontendLabels map[string]string
}

// dockerDefaultPath is the PATH container runtimes give images that set none; stated so that
// every runtime and `docker run --entrypoint` sees the same.
const dockerDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ImageConfig returns the OCI image configuration of a target: platform, user, environment,
// command, ports, volumes, labels, one history entry per layer, and the Laingfile's `config:`
// fragment merged last.
func ImageConfig(in ImageInput) (*dockerspec.DockerOCIImage, error) {
	t, f := in.Target, in.Facts
	created := in.Created.UTC()
	img := &dockerspec.DockerOCIImage{}
	img.Created = &created
	img.Platform = ocispecs.Platform{OS: in.Platform.OS, Architecture: in.Platform.Architecture, Variant: in.Platform.Variant}
	img.RootFS.Type = "layers"

	env := []string{"HOME=" + t.User.Home, "USER=" + t.User.Name}
	kind := t.Kind.Traits()
	if kind.UserNix {
		env = append(env, "PATH="+t.User.Home+"/.nix-profile/bin:"+profileLink+"/bin:/usr/bin:/bin")
		if !in.Pin.IsZero() {
			env = append(env, "NIX_PATH=nixpkgs="+in.Pin.TarballURL())
		}
	} else {
		env = append(env, "PATH="+dockerDefaultPath)
	}
	if cacert := f.Path(attrCACert); cacert != "" {
		env = append(env, "SSL_CERT_FILE="+cacert+"/etc/ssl/certs/ca-bundle.crt")
	}
	// The gcc runtime for binaries built elsewhere (the VS Code server's node): their loader,
	// glibc's, finds libc next to itself but libstdc++ only through this. glibc is not named:
	// a program from another nixpkgs would load this libc with its own loader and fail.
	if gccLib := f.Path(attrGCCLib); gccLib != "" {
		env = append(env, "LD_LIBRARY_PATH="+gccLib+"/lib")
	}
	for _, kv := range t.Env {
		env = setEnv(env, kv.Key, kv.Value)
	}
	img.Config.Env = env
	img.Config.User = t.User.Name
	img.Config.WorkingDir = t.Workdir
	img.Config.Entrypoint = t.Entrypoint
	img.Config.Cmd = t.Cmd
	if kind.Interactive && len(t.Cmd) == 0 && len(t.Entrypoint) == 0 {
		if bash := f.Path(attrBash); bash != "" {
			img.Config.Cmd = []string{bash + "/bin/bash"}
		}
	}
	if len(t.Expose) > 0 {
		img.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range t.Expose {
			img.Config.ExposedPorts[p.Port] = struct{}{}
		}
	}
	if len(t.Volumes) > 0 {
		img.Config.Volumes = map[string]struct{}{}
		for _, v := range t.Volumes {
			img.Config.Volumes[v] = struct{}{}
		}
	}
	img.Config.StopSignal = t.StopSignal

	labels := map[string]string{
		"org.opencontainers.image.created": created.Format(time.RFC3339),
	}
	if in.Pin.Rev != "" {
		labels["dev.laingfile.nixpkgs.rev"] = in.Pin.Rev
	}
	if kind.Metadata {
		meta, err := devcontainerMetadata(t, f.NixDB.SQLite != nil)
		if err != nil {
			return nil, err
		}
		labels["devcontainer.metadata"] = meta
	}
	maps.Copy(labels, in.FrontendLabels)
	maps.Copy(labels, in.ExtraLabels)
	for _, kv := range t.Labels {
		labels[kv.Key] = kv.Value
	}
	img.Config.Labels = labels

	for _, l := range in.Layers {
		img.History = append(img.History, ocispecs.History{
			Created:   &created,
			CreatedBy: l.CreatedBy,
			Comment:   "laingfile.v1",
		})
	}
	if len(t.Config) > 0 {
		return mergeConfig(img, t.Config)
	}
	return img, nil
}

// setEnv replaces or appends KEY=value.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// devcontainerMetadata is the devcontainer.metadata label (Dev Container spec): a JSON array
// of entries, which tools apply in order. The last names the users, merged with the
// Laingfile's `metadata:`; before it, for a user's Nix store, the command that gives the
// store back to the user after the Dev Containers CLI changed the user's uid.
func devcontainerMetadata(t *laingfile.Target, nixStore bool) (string, error) {
	var entries []map[string]any
	if nixStore && t.User.UID != 0 {
		entries = append(entries, map[string]any{"onCreateCommand": nixOwnerAfterUIDChange})
	}
	entry := map[string]any{
		"remoteUser":    t.User.Name,
		"containerUser": t.User.Name,
	}
	maps.Copy(entry, t.Metadata)
	data, err := json.Marshal(append(entries, entry))
	if err != nil {
		return "", fmt.Errorf("devcontainer metadata: %w", err)
	}
	return string(data), nil
}

// nixOwnerAfterUIDChange runs when a devcontainer is created. On a Linux host whose user's
// uid is not the image user's, the Dev Containers CLI gives the image user the host's uid
// and gid (updateRemoteUserUID) but chowns only the home directory: the Nix store directory,
// the database and the rest of /nix/var would stay the old uid's, and every nix command fail.
// This gives exactly what the image gave the user (nixStore) to the new uid. Store paths are
// root's and skipped: chowning them would copy every file up in overlayfs.
const nixOwnerAfterUIDChange = `old=$(stat -c %u /nix/var/nix) && [ "$old" = "$(id -u)" ] || ` +
	`sudo -n find /nix -path '/nix/store/*' -prune -o -user "$old" -exec chown -h "$(id -u):$(id -g)" {} +`

// mergeConfig applies a raw image-config fragment over the config, key by key, as the upstream
// `extraConfig` did: a key in the fragment replaces the whole value.
func mergeConfig(img *dockerspec.DockerOCIImage, fragment map[string]any) (*dockerspec.DockerOCIImage, error) {
	base, err := json.Marshal(img.Config)
	if err != nil {
		return nil, err
	}
	merged := map[string]any{}
	if err := json.Unmarshal(base, &merged); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(fragment)) {
		merged[k] = fragment[k]
	}
	data, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg dockerspec.DockerOCIImageConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("config: the merged image config is not valid: %w", err)
	}
	img.Config = cfg
	return img, nil
}
