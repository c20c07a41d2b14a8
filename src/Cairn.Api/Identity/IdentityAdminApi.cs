using Cairn.Api.Admin;
using Cairn.Core.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cairn.Api.Identity;

/// <summary>Builds project answers from the module's records.</summary>
public static class ProjectDtos
{
    extension(ProjectDto)
    {
        public static ProjectDto From(IdentityProject p) => new(p.Id, p.Name, IdentityConstants.DomainName, p.Description, p.Created);
    }
}

/// <summary>Builds user answers from the module's records.</summary>
public static class UserDtos
{
    extension(UserDto)
    {
        public static UserDto From(IdentityUser u, IdentityService ids) => new(u.Id, u.Name, IdentityConstants.DomainName,
            u.DefaultProjectId, u.DefaultProjectId is { } d ? ids.FindProject(d)?.Name : null,
            [.. u.Roles.SelectMany(kv => kv.Value.Select(r => new RoleAssignmentDto(kv.Key, ids.FindProject(kv.Key)?.Name ?? kv.Key, r)))
                .OrderBy(a => a.Project, StringComparer.Ordinal).ThenBy(a => IdentityConstants.AllRoles.ToList().IndexOf(a.Role))],
            u.Created);
    }
}

/// <summary>
/// <c>/cairn/v1/identity</c>: projects, users and their roles, managed like everything else in the admin API (whoever
/// may use the admin API manages identities; the Keystone-compatible API under <c>/identity</c> only issues tokens).
/// Passwords are write-only.
/// </summary>
public static class IdentityAdminApi
{
    public static IEndpointRouteBuilder MapCairnIdentityAdminApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(AdminApi.Prefix + "/identity").WithTags("identity");
        const int B = StatusCodes.Status400BadRequest, N = StatusCodes.Status404NotFound, C = StatusCodes.Status409Conflict;

        g.MapGet("/projects", Ok<ProjectDto[]> (IdentityService ids) => TypedResults.Ok(ids.ListProjects().Select(ProjectDto.From).ToArray()))
            .Operation("ListProjects", "List identity projects").AdminErrors();

        g.MapPost("/projects", async Task<Created<ProjectDto>> (HttpRequest req, IdentityService ids, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateProjectRequest>(req, ct);
            var p = await ids.CreateProjectAsync(AdminParse.Required(body.Name, "name"), body.Description, ct);
            return TypedResults.Created((string?)null, ProjectDto.From(p));
        }).Accepts<CreateProjectRequest>("application/json")
            .Operation("CreateProject", "Create an identity project").AdminErrors(B, C);

        g.MapGet("/projects/{project}", Ok<ProjectDto> (string project, IdentityService ids) => TypedResults.Ok(ProjectDto.From(ids.GetProject(project))))
            .Operation("GetProject", "Show one project (by name or id)").AdminErrors(N);

        g.MapDelete("/projects/{project}", async Task<NoContent> (string project, IdentityService ids, CancellationToken ct) =>
        {
            await ids.DeleteProjectAsync(project, ct);
            return TypedResults.NoContent();
        }).Operation("DeleteProject", "Delete a project and every role on it (tokens scoped to it stop working)").AdminErrors(N);

        g.MapGet("/users", Ok<UserDto[]> (IdentityService ids) => TypedResults.Ok(ids.ListUsers().Select(u => UserDto.From(u, ids)).ToArray()))
            .Operation("ListUsers", "List users with their roles (never their passwords)").AdminErrors();

        g.MapPost("/users", async Task<Created<UserDto>> (HttpRequest req, IdentityService ids, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateUserRequest>(req, ct);
            var u = await ids.CreateUserAsync(AdminParse.Required(body.Name, "name"), AdminParse.Required(body.Password, "password"),
                AdminParse.Required(body.Project, "project"), body.Role ?? Roles.Member, ct);
            return TypedResults.Created((string?)null, UserDto.From(u, ids));
        }).Accepts<CreateUserRequest>("application/json")
            .Operation("CreateUser", "Create a user with a role on a project").AdminErrors(B, N, C);

        g.MapGet("/users/{user}", Ok<UserDto> (string user, IdentityService ids) => TypedResults.Ok(UserDto.From(ids.GetUser(user), ids)))
            .Operation("GetUser", "Show one user (by name or id)").AdminErrors(N);

        g.MapDelete("/users/{user}", async Task<NoContent> (string user, IdentityService ids, CancellationToken ct) =>
        {
            await ids.DeleteUserAsync(user, ct);
            return TypedResults.NoContent();
        }).Operation("DeleteUser", "Delete a user (its tokens stop working)").AdminErrors(N);

        g.MapPut("/users/{user}/password", async Task<Ok<UserDto>> (string user, HttpRequest req, IdentityService ids, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<SetPasswordRequest>(req, ct);
            return TypedResults.Ok(UserDto.From(await ids.SetPasswordAsync(user, AdminParse.Required(body.Password, "password"), ct), ids));
        }).Accepts<SetPasswordRequest>("application/json")
            .Operation("SetUserPassword", "Set a user's password").AdminErrors(B, N);

        g.MapPost("/users/{user}/roles", async Task<Ok<UserDto>> (string user, HttpRequest req, IdentityService ids, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<RoleAssignmentRequest>(req, ct);
            return TypedResults.Ok(UserDto.From(await ids.GrantAsync(user, AdminParse.Required(body.Project, "project"), AdminParse.Required(body.Role, "role"), ct), ids));
        }).Accepts<RoleAssignmentRequest>("application/json")
            .Operation("AddRole", "Give a user a role on a project").AdminErrors(B, N);

        g.MapDelete("/users/{user}/roles/{project}/{role}", async Task<Ok<UserDto>> (string user, string project, string role, IdentityService ids, CancellationToken ct) =>
            TypedResults.Ok(UserDto.From(await ids.RevokeRoleAsync(user, project, role, ct), ids)))
            .Operation("RemoveRole", "Take a role on a project away from a user").AdminErrors(B, N);
        return app;
    }
}
