package main

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry serves an in-memory registry holding each image or index (with what it refers
// to) under its REPOSITORY:TAG, and returns the registry's host.
func testRegistry(t *testing.T, images map[string]remote.Taggable) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for repoTag, img := range images {
		ref, err := name.NewTag(host + "/" + repoTag)
		if err != nil {
			t.Fatal(err)
		}
		switch img := img.(type) {
		case v1.ImageIndex:
			err = remote.WriteIndex(ref, img)
		case v1.Image:
			err = remote.Write(ref, img)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return host
}
