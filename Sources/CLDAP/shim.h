#ifndef TOLLGATE_CLDAP_SHIM_H
#define TOLLGATE_CLDAP_SHIM_H
#include <lber.h>
#include <ldap.h>
#endif
