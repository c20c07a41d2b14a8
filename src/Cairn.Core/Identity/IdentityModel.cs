namespace Cairn.Core.Identity;

/// <summary>A project (Keystone's tenant) in the Default domain.</summary>
/// <param name="Id">32 lower-case hex digits, as Keystone's.</param>
/// <param name="Name">Unique among projects.</param>
/// <param name="Description">Free text.</param>
/// <param name="Created">When it was created.</param>
public sealed record IdentityProject(string Id, string Name, string Description, DateTimeOffset Created);

/// <summary>A user of the Default domain and the roles it was given, per project (assigned roles, not the implied ones).</summary>
/// <param name="Id">32 lower-case hex digits, as Keystone's.</param>
/// <param name="Name">Unique among users.</param>
/// <param name="DefaultProjectId">The project an unscoped password request is scoped to (the one it was created in).</param>
/// <param name="Roles">Project id → roles assigned there.</param>
/// <param name="Created">When it was created.</param>
public sealed record IdentityUser(string Id, string Name, string? DefaultProjectId, IReadOnlyDictionary<string, IReadOnlyList<string>> Roles, DateTimeOffset Created);

/// <summary>What a token stands for, checked now: its user, its project (null: unscoped) and the effective roles there.</summary>
/// <param name="User">The token's user.</param>
/// <param name="Project">The project it is scoped to; null when unscoped.</param>
/// <param name="Roles">Effective roles on the project, implied ones included (admin implies member, member implies reader), as Keystone lists them.</param>
/// <param name="Methods">How it was obtained (<c>password</c>, <c>token</c>).</param>
/// <param name="IssuedAt">When it was issued.</param>
/// <param name="ExpiresAt">When it stops working.</param>
/// <param name="AuditIds">The token's audit id, then (when it was made from another token) that token's.</param>
public sealed record TokenView(IdentityUser User, IdentityProject? Project, IReadOnlyList<string> Roles, IReadOnlyList<string> Methods,
    DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, IReadOnlyList<string> AuditIds);

/// <summary>A token just issued: the secret (given to the client once, stored only hashed) and what it stands for.</summary>
public sealed record IssuedToken(string Token, TokenView View);

/// <summary>The password method's user: by id, or by name in a domain (id or name).</summary>
public sealed record PasswordCredentials(string? UserId, string? UserName, string? DomainId, string? DomainName, string Password);

/// <summary>A project scope: by id, or by name in a domain (id or name).</summary>
public sealed record ProjectScope(string? ProjectId, string? ProjectName, string? DomainId, string? DomainName);

/// <summary>The identity module's settings.</summary>
public sealed class IdentityOptions
{
    /// <summary>How long a token lives (Keystone's <c>[token] expiration</c>, default one hour).</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>PBKDF2 iterations of new password hashes.</summary>
    public int PasswordIterations { get; init; } = PasswordHash.DefaultIterations;

    /// <summary>The clock tokens are issued and checked by.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

/// <summary>The one domain and the fixed roles, with the ids tokens carry.</summary>
public static class IdentityConstants
{
    /// <summary>Module name of the identity documents in the state store.</summary>
    public const string Module = "identity";

    public const string DomainId = "default";
    public const string DomainName = "Default";

    /// <summary>The roles, strongest first; each implies the ones after it (Keystone's default implied roles).</summary>
    public static readonly IReadOnlyList<string> AllRoles = [Roles.Admin, Roles.Member, Roles.Reader];

    /// <summary>A fixed id per role (hex, as Keystone's), the same on every server.</summary>
    public static string RoleId(string role) => role switch
    {
        Roles.Admin => "a0000000000000000000000000000001",
        Roles.Member => "a0000000000000000000000000000002",
        Roles.Reader => "a0000000000000000000000000000003",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "not a role"),
    };

    /// <summary>The roles <paramref name="assigned"/> amount to, implied ones included, strongest first.</summary>
    public static IReadOnlyList<string> Effective(IEnumerable<string> assigned)
    {
        var strongest = assigned.Select(r => AllRoles.IndexOf(r)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        return strongest < 0 ? [] : [.. AllRoles.Skip(strongest)];
    }

    private static int IndexOf(this IReadOnlyList<string> list, string item)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == item) return i;
        return -1;
    }
}
