// Package nat rewrites frames for LVS-NAT in both directions, masquerades
// connections real servers open themselves, and carries the FTP helper.
//
// It must not choose destinations.
package nat
