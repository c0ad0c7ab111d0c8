//go:build tools

// Package tools pins the commands this module builds: the controller and the ext_proc server (the data plane).
package tools

import (
	_ "github.com/envoyproxy/ai-gateway/cmd/controller"
	_ "github.com/envoyproxy/ai-gateway/cmd/extproc"
)
