namespace Cairn.Core.Identity;

/// <summary>Who is calling an API, once its token has been validated.</summary>
/// <param name="UserId">The user's id (hex, as Keystone's).</param>
/// <param name="UserName">The user's name.</param>
/// <param name="ProjectId">The id of the project the token is scoped to.</param>
/// <param name="ProjectName">The name of that project.</param>
/// <param name="Roles">The user's roles on that project: <c>admin</c>, <c>member</c>, <c>reader</c>.</param>
public sealed record Caller(string UserId, string UserName, string ProjectId, string ProjectName, IReadOnlyList<string> Roles)
{
    /// <summary>Holds the admin role (Cinder's <c>admin_api</c> rule).</summary>
    public bool IsAdmin => Roles.Contains(Identity.Roles.Admin);

    /// <summary>May change its project's resources (admin or member; a reader only reads).</summary>
    public bool CanWrite => IsAdmin || Roles.Contains(Identity.Roles.Member);
}

/// <summary>The roles Cairn knows, as Keystone's default roles.</summary>
public static class Roles
{
    public const string Admin = "admin";
    public const string Member = "member";
    public const string Reader = "reader";
}

/// <summary>
/// Turns a token (an <c>X-Auth-Token</c> header) into the caller it stands for. Implemented by the identity module
/// (Keystone-compatible tokens in the state store); consumed by every API module that authenticates with tokens.
/// </summary>
public interface ITokenValidator
{
    /// <summary>The caller the token stands for, or null when it is unknown, expired or revoked.</summary>
    ValueTask<Caller?> ValidateAsync(string token, CancellationToken ct);
}
