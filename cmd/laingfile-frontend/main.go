// Command laingfile-frontend is the Laingfile BuildKit frontend, run by BuildKit from the image
// a Laingfile names on its `# syntax=` line.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"

	"github.com/laingville/laingfile/frontend"
)

// version is set at build time with -ldflags "-X main.version=…"; the frontend names it in
// every build's progress and image labels.
var version = "dev"

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("laingfile-frontend", version)
		return
	}
	if err := grpcclient.RunFromEnvironment(appcontext.Context(), frontend.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, "laingfile-frontend:", err)
		os.Exit(1)
	}
}
