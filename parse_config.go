package laingfile

// This file reads a target's `config:`, a raw fragment of the OCI image config whose field names
// and types are checked.

// configReader is the state of `config:` being read: the fragment so far.
type configReader struct {
	*checker
	out map[string]any
}

// configFields are the fields of the OCI image config ("config" in the image JSON), in the order
// of the image spec, each read by its type.
var configFields = table[*configReader]{
	{key: "User", read: readConfigString}, {key: "ExposedPorts", read: readConfigMapping},
	{key: "Env", read: readConfigList}, {key: "Entrypoint", read: readConfigList}, {key: "Cmd", read: readConfigList},
	{key: "Volumes", read: readConfigMapping}, {key: "WorkingDir", read: readConfigString},
	{key: "Labels", read: readConfigLabels}, {key: "StopSignal", read: readConfigString},
	{key: "ArgsEscaped", read: readConfigBool}, {key: "Healthcheck", read: readConfigMapping},
	{key: "OnBuild", read: readConfigList}, {key: "Shell", read: readConfigList},
}

// ociConfig reads a raw OCI image-config fragment, checking its field names and their types.
func (c *checker) ociConfig(n *node) map[string]any {
	if !c.isMapping(n, "config", "a mapping of OCI image config fields (e.g. Healthcheck)") {
		return nil
	}
	r := &configReader{checker: c, out: map[string]any{}}
	configFields.readMapping(c, r, n, "config")
	return r.out
}

func readConfigString(r *configReader, e *entry) {
	if s, ok := r.scalar(e.val, "config."+e.key, "a string", asIs(checkText)); ok {
		r.out[e.key] = s
	}
}

func readConfigList(r *configReader, e *entry) {
	if list, ok := r.textList(e.val, "config."+e.key); ok {
		r.out[e.key] = list
	}
}

func readConfigMapping(r *configReader, e *entry) {
	if m := r.fragment(e.val, "config."+e.key, "a mapping"); m != nil {
		r.out[e.key] = m
	}
}

// readConfigLabels reads Labels as the target's `labels:` are read, values as strings.
func readConfigLabels(r *configReader, e *entry) {
	what := "config." + e.key
	if !r.isMapping(e.val, what, "a mapping") {
		return
	}
	labels := map[string]any{}
	for _, kv := range r.keyValues(e.val, what, "a mapping", false) {
		labels[kv.Key] = kv.Value
	}
	r.out[e.key] = labels
}

func readConfigBool(r *configReader, e *entry) {
	if b, ok := r.boolean(e.val, "config."+e.key); ok {
		r.out[e.key] = b
	}
}
