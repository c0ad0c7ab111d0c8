//go:build tools

// Package tools pins the command this module builds.
package tools

import _ "github.com/llm-d/llm-d-inference-sim/cmd/llm-d-inference-sim"
