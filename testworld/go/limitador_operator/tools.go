//go:build tools

// Package tools pins the command this module builds: limitador-operator v0.18.3, the version the kuadrant-operator 1.5.2 chart deploys.
package tools

import _ "github.com/kuadrant/limitador-operator"
