// Package admintest holds the fixtures the tests of the admin packages
// share: the reference table of ipvsadm's listings and its addresses.
package admintest
