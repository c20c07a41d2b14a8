namespace Cairn.Contracts;

/// <summary>POST /cairn/v1/identity/projects body.</summary>
public sealed record CreateProjectRequest(string? Name, string? Description = null);

/// <summary>A project of the identity module (Keystone's Default domain).</summary>
public sealed record ProjectDto(string Id, string Name, string Domain, string Description, DateTimeOffset Created);

/// <summary>
/// POST /cairn/v1/identity/users body: <c>project</c> (name or id) and <c>role</c> (admin, member or reader; default
/// member) give the user its first role, on its default project. The password is write-only: stored only as a slow
/// salted hash, never returned, never logged.
/// </summary>
public sealed record CreateUserRequest(string? Name, string? Password, string? Project, string? Role = null);

/// <summary>PUT /cairn/v1/identity/users/{user}/password body.</summary>
public sealed record SetPasswordRequest(string? Password);

/// <summary>POST /cairn/v1/identity/users/{user}/roles body: a role on a project (name or id).</summary>
public sealed record RoleAssignmentRequest(string? Project, string? Role);

/// <summary>A role a user holds on a project.</summary>
public sealed record RoleAssignmentDto(string ProjectId, string Project, string Role);

/// <summary>A user (never its password).</summary>
public sealed record UserDto(string Id, string Name, string Domain, string? DefaultProjectId, string? DefaultProject, IReadOnlyList<RoleAssignmentDto> Roles, DateTimeOffset Created);
