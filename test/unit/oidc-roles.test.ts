// Which aTES role a provider's token names, wherever the provider puts the roles.
import { describe, expect, it } from 'vitest';
import { roleFromClaims } from '../../api/oidc.js';

describe('roleFromClaims', () => {
  it('reads a top-level claim, a string or an array of strings', () => {
    expect(roleFromClaims({ roles: 'worker' }, 'roles')).toBe('worker');
    expect(roleFromClaims({ roles: ['client'] }, 'roles')).toBe('client');
  });

  it('picks the most privileged of several: admin, manager, accountant, worker, reviewer, client', () => {
    expect(roleFromClaims({ roles: ['client', 'reviewer', 'worker'] }, 'roles')).toBe('worker');
    expect(roleFromClaims({ roles: ['worker', 'accountant', 'manager'] }, 'roles')).toBe('manager');
    expect(roleFromClaims({ roles: ['client', 'admin'] }, 'roles')).toBe('admin');
  });

  it('follows a dotted path into nested claims (Keycloak)', () => {
    const claims = { realm_access: { roles: ['offline_access', 'reviewer'] }, resource_access: { ates: { roles: ['accountant'] } } };
    expect(roleFromClaims(claims, 'realm_access.roles')).toBe('reviewer');
    expect(roleFromClaims(claims, 'resource_access.ates.roles')).toBe('accountant');
  });

  it('takes a claim named with dots as it is first (Auth0’s namespaced claims)', () => {
    expect(roleFromClaims({ 'https://ates.example/roles': ['manager'] }, 'https://ates.example/roles')).toBe('manager');
  });

  it('names no role for other names, other types, a missing claim or a path through a non-object', () => {
    expect(roleFromClaims({ roles: ['Admin', 'offline_access'] }, 'roles')).toBeUndefined();
    expect(roleFromClaims({ roles: [1, null, { admin: true }] }, 'roles')).toBeUndefined();
    expect(roleFromClaims({ roles: { admin: true } }, 'roles')).toBeUndefined();
    expect(roleFromClaims({}, 'roles')).toBeUndefined();
    expect(roleFromClaims({ realm_access: 'admin' }, 'realm_access.roles')).toBeUndefined();
    expect(roleFromClaims({ roles: ['admin'] }, 'constructor.roles')).toBeUndefined();
  });
});
