//go:build tools

// Package tools pins the command this module builds.
package tools

import _ "go.universe.tf/metallb/controller"
