//go:build tools

// Package tools pins the command this module builds: authorino-operator v0.25.1 (the kuadrant-operator 1.5.2 chart deploys v0.25.2, which the Go module proxy does not serve).
package tools

import _ "github.com/kuadrant/authorino-operator"
