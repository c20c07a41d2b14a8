using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Core.State;
using Microsoft.Extensions.Logging;

namespace Cairn.Core.Identity;

/// <summary>
/// The identity module: projects, users and their roles, and Keystone-compatible tokens, kept as module documents
/// (<see cref="IdentityConstants.Module"/>: kinds <c>project</c>, <c>user</c>, <c>token</c>) in the state store.
/// Passwords are stored only as <see cref="PasswordHash"/>es; a token is 32 random bytes given to the client once and
/// stored only as its SHA-256, with its expiry; revoking deletes it. Users and projects are few and held in memory (this
/// service is their only writer); tokens are read from the store and kept in a cache that revocation updates.
/// What a token stands for is worked out when it is checked, so a role taken away or a user deleted takes effect on
/// the tokens already issued, as in Keystone.
/// </summary>
public sealed partial class IdentityService : ITokenValidator, IDisposable
{
    private const string ProjectKind = "project", UserKind = "user", TokenKind = "token";
    private const int MaxCachedTokens = 100_000;

    private readonly IStateStore _store;
    private readonly IdentityOptions _options;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly ConcurrentDictionary<string, StoredToken> _tokens = new(StringComparer.Ordinal);
    private volatile Model _model;
    private long _lastSweep;

    /// <summary>Users and projects as last committed; replaced whole on every change.</summary>
    private sealed record Model(IReadOnlyDictionary<string, IdentityProject> Projects, IReadOnlyDictionary<string, (IdentityUser User, JsonObject Password)> Users);

    /// <summary>A token's record: who, where, how, until when.</summary>
    private sealed record StoredToken(string UserId, string? ProjectId, IReadOnlyList<string> Methods, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, IReadOnlyList<string> AuditIds);

    public IdentityService(IStateStore store, IdentityOptions options, ILogger<IdentityService> log)
    {
        _store = store;
        _options = options;
        _log = log;
        _model = Load(store);
    }

    private DateTimeOffset Now => _options.Clock.GetUtcNow();

    public void Dispose() => _write.Dispose();

    // ---- projects -------------------------------------------------------------------------------------------------

    public IReadOnlyList<IdentityProject> ListProjects() => [.. _model.Projects.Values.OrderBy(p => p.Name, StringComparer.Ordinal)];

    /// <summary>The project named (or with the id) <paramref name="nameOrId"/>, or null.</summary>
    public IdentityProject? FindProject(string nameOrId)
    {
        var m = _model;
        return m.Projects.Values.FirstOrDefault(p => p.Name == nameOrId) ?? m.Projects.GetValueOrDefault(nameOrId);
    }

    public IdentityProject GetProject(string nameOrId) => FindProject(nameOrId) ?? throw CairnException.NotFound($"project {nameOrId} does not exist");

    public async Task<IdentityProject> CreateProjectAsync(string name, string? description, CancellationToken ct)
    {
        CheckName(name, "project");
        await _write.WaitAsync(ct);
        try
        {
            var m = _model;
            if (m.Projects.Values.Any(p => p.Name == name)) throw CairnException.Exists($"project {name} already exists");
            var p = new IdentityProject(NewId(), name, description ?? "", Now);
            await _store.WriteAsync(w => w.Put(Document(p)), ct);
            _model = m with { Projects = With(m.Projects, p.Id, p) };
            return p;
        }
        finally { _write.Release(); }
    }

    /// <summary>Deletes a project and every role assignment on it; tokens scoped to it stop working.</summary>
    public async Task<IdentityProject> DeleteProjectAsync(string nameOrId, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            var m = _model;
            var p = GetProject(nameOrId);
            var changed = m.Users.Values.Where(u => u.User.Roles.ContainsKey(p.Id))
                .Select(u => (User: u.User with { Roles = Without(u.User.Roles, p.Id), DefaultProjectId = u.User.DefaultProjectId == p.Id ? null : u.User.DefaultProjectId }, u.Password))
                .ToList();
            await _store.WriteAsync(w =>
            {
                w.DeleteDocument(IdentityConstants.Module, ProjectKind, p.Id);
                foreach (var (u, pw) in changed) w.Put(Document(u, pw));
            }, ct);
            var users = new Dictionary<string, (IdentityUser, JsonObject)>(m.Users);
            foreach (var (u, pw) in changed) users[u.Id] = (u, pw);
            var projects = new Dictionary<string, IdentityProject>(m.Projects);
            projects.Remove(p.Id);
            _model = new Model(projects, users);
            return p;
        }
        finally { _write.Release(); }
    }

    // ---- users ----------------------------------------------------------------------------------------------------

    public IReadOnlyList<IdentityUser> ListUsers() => [.. _model.Users.Values.Select(u => u.User).OrderBy(u => u.Name, StringComparer.Ordinal)];

    public IdentityUser? FindUser(string nameOrId)
    {
        var m = _model;
        return m.Users.Values.FirstOrDefault(u => u.User.Name == nameOrId).User ?? (m.Users.TryGetValue(nameOrId, out var byId) ? byId.User : null);
    }

    public IdentityUser GetUser(string nameOrId) => FindUser(nameOrId) ?? throw CairnException.NotFound($"user {nameOrId} does not exist");

    /// <summary>Creates a user with <paramref name="role"/> on <paramref name="project"/> (also its default project).</summary>
    public async Task<IdentityUser> CreateUserAsync(string name, string password, string project, string role, CancellationToken ct)
    {
        CheckName(name, "user");
        if (PasswordHash.Check(password) is { } why) throw CairnException.Invalid(why);
        CheckRole(role);
        var p = GetProject(project);
        // The slow hash is computed outside the write lock: other changes need not wait for it.
        var hash = PasswordHash.Create(password, _options.PasswordIterations);
        await _write.WaitAsync(ct);
        try
        {
            var m = _model;
            if (m.Users.Values.Any(u => u.User.Name == name)) throw CairnException.Exists($"user {name} already exists");
            if (!m.Projects.ContainsKey(p.Id)) throw CairnException.NotFound($"project {project} does not exist");
            var roles = new Dictionary<string, IReadOnlyList<string>> { [p.Id] = [role] };
            var u = new IdentityUser(NewId(), name, p.Id, roles, Now);
            await _store.WriteAsync(w => w.Put(Document(u, hash)), ct);
            _model = m with { Users = With(m.Users, u.Id, (u, hash)) };
            return u;
        }
        finally { _write.Release(); }
    }

    /// <summary>Deletes a user; its tokens stop working at once.</summary>
    public async Task<IdentityUser> DeleteUserAsync(string nameOrId, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            var m = _model;
            var u = GetUser(nameOrId);
            await _store.WriteAsync(w => w.DeleteDocument(IdentityConstants.Module, UserKind, u.Id), ct);
            var users = new Dictionary<string, (IdentityUser, JsonObject)>(m.Users);
            users.Remove(u.Id);
            _model = m with { Users = users };
            return u;
        }
        finally { _write.Release(); }
    }

    public async Task<IdentityUser> SetPasswordAsync(string nameOrId, string password, CancellationToken ct)
    {
        if (PasswordHash.Check(password) is { } why) throw CairnException.Invalid(why);
        GetUser(nameOrId);
        var hash = PasswordHash.Create(password, _options.PasswordIterations);
        return await ChangeUserAsync(nameOrId, u => (u, hash), ct);
    }

    /// <summary>Gives <paramref name="role"/> on <paramref name="project"/> (adding to the roles held there); a no-op when held.</summary>
    public Task<IdentityUser> GrantAsync(string user, string project, string role, CancellationToken ct)
    {
        CheckRole(role);
        var p = GetProject(project);
        return ChangeUserAsync(user, u =>
        {
            var held = u.Roles.GetValueOrDefault(p.Id) ?? [];
            var roles = new Dictionary<string, IReadOnlyList<string>>(u.Roles) { [p.Id] = held.Contains(role) ? held : [.. held, role] };
            return (u with { Roles = roles, DefaultProjectId = u.DefaultProjectId ?? p.Id }, null);
        }, ct);
    }

    /// <summary>Takes <paramref name="role"/> on <paramref name="project"/> away; an error when it is not held.</summary>
    public Task<IdentityUser> RevokeRoleAsync(string user, string project, string role, CancellationToken ct)
    {
        CheckRole(role);
        var p = GetProject(project);
        return ChangeUserAsync(user, u =>
        {
            var held = u.Roles.GetValueOrDefault(p.Id) ?? [];
            if (!held.Contains(role)) throw CairnException.NotFound($"user {u.Name} has no role {role} on project {p.Name}");
            var left = held.Where(r => r != role).ToList();
            var roles = left.Count == 0 ? Without(u.Roles, p.Id) : new Dictionary<string, IReadOnlyList<string>>(u.Roles) { [p.Id] = left };
            return (u with { Roles = roles }, null);
        }, ct);
    }

    private async Task<IdentityUser> ChangeUserAsync(string nameOrId, Func<IdentityUser, (IdentityUser User, JsonObject? Password)> change, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            var m = _model;
            var u = GetUser(nameOrId);
            var (changed, password) = change(u);
            var pw = password ?? m.Users[u.Id].Password;
            await _store.WriteAsync(w => w.Put(Document(changed, pw)), ct);
            _model = m with { Users = With(m.Users, u.Id, (changed, pw)) };
            return changed;
        }
        finally { _write.Release(); }
    }

    // ---- first start ----------------------------------------------------------------------------------------------

    /// <summary>
    /// On a store with no users: creates project <c>admin</c> (unless it exists) and user <c>admin</c> with the admin role
    /// there, with a generated password written to <paramref name="passwordFile"/> (mode 0600, replaced only on such a
    /// first start). Returns the file's path, or null when users exist (nothing is done). The password is never logged.
    /// </summary>
    public async Task<string?> BootstrapAsync(string passwordFile, CancellationToken ct)
    {
        if (!_model.Users.IsEmpty()) return null;
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');
        // The file first: a crash before the user is committed leaves a password that was never valid, replaced at the
        // next start; a crash after leaves both.
        var tmp = passwordFile + ".tmp";
        File.Delete(tmp);
        await using (var f = new FileStream(tmp, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            await f.WriteAsync(Encoding.UTF8.GetBytes(password + "\n"), ct);
            await f.FlushAsync(ct);
            await Task.Run(() => f.Flush(flushToDisk: true), ct);
        }
        File.Move(tmp, passwordFile, overwrite: true);
        var project = FindProject("admin") ?? await CreateProjectAsync("admin", "Bootstrap project for initializing the cloud.", ct);
        await CreateUserAsync("admin", password, project.Id, Roles.Admin, ct);
        return passwordFile;
    }

    // ---- tokens ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// Keystone's password method. The scope: a project, or null for Keystone's rule (the user's default project when it
    /// holds a role there, else an unscoped token). Every failure — unknown user, wrong password, a project that does not
    /// exist or where the user has no role — is the same <see cref="ErrorKind.Unauthorized"/>, which says nothing of
    /// which part was wrong.
    /// </summary>
    public async Task<IssuedToken> AuthenticateAsync(PasswordCredentials credentials, ProjectScope? scope, CancellationToken ct)
    {
        var m = _model;
        (IdentityUser User, JsonObject Password)? found = credentials.UserId is { } id
            ? (m.Users.TryGetValue(id, out var byId) ? byId : null)
            : InDomain(credentials.DomainId, credentials.DomainName) ? m.Users.Values.FirstOrDefault(u => u.User.Name == credentials.UserName) : null;
        if (found is { User: null }) found = null;
        // Verified even for an unknown user (against a decoy): the time taken says nothing either.
        var ok = await Task.Run(() => PasswordHash.Verify(credentials.Password, found?.Password), ct);
        if (!ok || found is null)
        {
            Log.AuthFailed(_log, credentials.UserId ?? credentials.UserName ?? "-");
            throw Unauthorized();
        }
        var user = found.Value.User;
        var project = ResolveScope(user, scope, m);
        return await IssueAsync(user, project, ["password"], null, [], ct);
    }

    /// <summary>
    /// HMAC-SHA256 keyed with the user's stored password hash (PBKDF2, never the password) over
    /// <paramref name="purpose"/>: a per-user secret for APIs that authenticate with a derived value (the installer's
    /// PASSWORD). It changes when the password changes and the password cannot be read back from it. Null for an
    /// unknown user.
    /// </summary>
    public byte[]? DerivedSecret(string userId, string purpose)
    {
        if (!_model.Users.TryGetValue(userId, out var u)) return null;
        byte[] key;
        try { key = Convert.FromBase64String((string?)u.Password["hash"] ?? ""); }
        catch (FormatException) { return null; }
        return System.Security.Cryptography.HMACSHA256.HashData(key, System.Text.Encoding.UTF8.GetBytes(purpose));
    }

    /// <summary>The user (by name or id) when <paramref name="password"/> is theirs, else null; an unknown user costs the same.</summary>
    public async Task<IdentityUser?> VerifyPasswordAsync(string nameOrId, string password, CancellationToken ct)
    {
        var m = _model;
        (IdentityUser User, JsonObject Password)? found = m.Users.Values.FirstOrDefault(u => u.User.Name == nameOrId) is { User: not null } byName
            ? byName : m.Users.TryGetValue(nameOrId, out var byId) ? byId : null;
        var ok = await Task.Run(() => PasswordHash.Verify(password, found?.Password), ct);
        return ok ? found?.User : null;
    }

    /// <summary>Keystone's token method: a new token for the same user, in <paramref name="scope"/>, expiring with the old one.</summary>
    public async Task<IssuedToken> AuthenticateAsync(string token, ProjectScope? scope, CancellationToken ct)
    {
        var (stored, view) = await CheckAsync(token, ct) ?? throw Unauthorized();
        var project = scope is null ? null : ResolveScope(view.User, scope, _model);
        var methods = stored.Methods.Contains("token") ? stored.Methods : ["token", .. stored.Methods];
        return await IssueAsync(view.User, project, methods, stored.ExpiresAt, [stored.AuditIds[^1]], ct);
    }

    /// <summary>What <paramref name="token"/> stands for now, or null when it is unknown, expired, revoked, or its user or project is gone.</summary>
    public async Task<TokenView?> ValidateTokenAsync(string token, CancellationToken ct) => (await CheckAsync(token, ct))?.View;

    /// <inheritdoc />
    public async ValueTask<Caller?> ValidateAsync(string token, CancellationToken ct)
    {
        var v = await ValidateTokenAsync(token, ct);
        if (v?.Project is not { } p || v.Roles.Count == 0) return null;
        return new Caller(v.User.Id, v.User.Name, p.Id, p.Name, v.Roles);
    }

    /// <summary>Revokes <paramref name="token"/>: false when it was not valid.</summary>
    public async Task<bool> RevokeAsync(string token, CancellationToken ct)
    {
        if (await CheckAsync(token, ct) is null) return false;
        var key = Hash(token);
        await _store.WriteAsync(w => w.DeleteDocument(IdentityConstants.Module, TokenKind, key), ct);
        _tokens.TryRemove(key, out _);
        return true;
    }

    private async Task<(StoredToken Stored, TokenView View)?> CheckAsync(string token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 256) return null;
        var key = Hash(token);
        if (!_tokens.TryGetValue(key, out var t))
        {
            var doc = _store.GetDocument(IdentityConstants.Module, TokenKind, key);
            if (doc is null) return null;
            t = ReadToken(doc.Body);
            if (_tokens.Count >= MaxCachedTokens) _tokens.Clear();
            _tokens[key] = t;
        }
        if (Now >= t.ExpiresAt)
        {
            _tokens.TryRemove(key, out _);
            await SweepIfDueAsync(ct);
            return null;
        }
        var m = _model;
        if (!m.Users.TryGetValue(t.UserId, out var u)) return null;
        IdentityProject? project = null;
        IReadOnlyList<string> roles = [];
        if (t.ProjectId is not null)
        {
            if (!m.Projects.TryGetValue(t.ProjectId, out project)) return null;
            roles = IdentityConstants.Effective(u.User.Roles.GetValueOrDefault(t.ProjectId) ?? []);
            if (roles.Count == 0) return null;
        }
        return (t, new TokenView(u.User, project, roles, t.Methods, t.IssuedAt, t.ExpiresAt, t.AuditIds));
    }

    private IdentityProject? ResolveScope(IdentityUser user, ProjectScope? scope, Model m)
    {
        if (scope is null)
        {
            // Keystone: no scope asked for means the default project, when the user may use it.
            return user.DefaultProjectId is { } d && m.Projects.TryGetValue(d, out var dp) && user.Roles.ContainsKey(d) ? dp : null;
        }
        var project = scope.ProjectId is { } id ? m.Projects.GetValueOrDefault(id)
            : InDomain(scope.DomainId, scope.DomainName) ? m.Projects.Values.FirstOrDefault(p => p.Name == scope.ProjectName) : null;
        if (project is null || IdentityConstants.Effective(user.Roles.GetValueOrDefault(project.Id) ?? []).Count == 0)
        {
            Log.ScopeRefused(_log, user.Name, scope.ProjectId ?? scope.ProjectName ?? "-");
            throw Unauthorized();
        }
        return project;
    }

    /// <summary>A new token; <paramref name="expiresAt"/> null: the configured lifetime from now.</summary>
    private async Task<IssuedToken> IssueAsync(IdentityUser user, IdentityProject? project, IReadOnlyList<string> methods, DateTimeOffset? expiresAt, IReadOnlyList<string> parentAudit, CancellationToken ct)
    {
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        var key = Hash(token);
        // Whole microseconds, as Keystone shows times: what the client reads is exactly what is checked.
        var now = Now;
        now = now.AddTicks(-(now.UtcTicks % 10));
        var expires = expiresAt ?? now + _options.TokenLifetime;
        var stored = new StoredToken(user.Id, project?.Id, methods, now, expires, [Base64Url(RandomNumberGenerator.GetBytes(16)), .. parentAudit]);
        await _store.WriteAsync(w => w.Put(new DocumentRecord(IdentityConstants.Module, TokenKind, key, project?.Id, WriteToken(stored), now)), ct);
        _tokens[key] = stored;
        Log.TokenIssued(_log, user.Name, project?.Name ?? "(unscoped)", stored.AuditIds[0]);
        await SweepIfDueAsync(ct);
        var roles = project is null ? [] : IdentityConstants.Effective(user.Roles.GetValueOrDefault(project.Id) ?? []);
        return new IssuedToken(token, new TokenView(user, project, roles, methods, now, expires, stored.AuditIds));
    }

    /// <summary>Deletes expired tokens' records, at most once an hour (and at the first issue after a start).</summary>
    private async Task SweepIfDueAsync(CancellationToken ct)
    {
        var now = Now;
        var last = Interlocked.Read(ref _lastSweep);
        if (now.UtcTicks - last < TimeSpan.TicksPerHour || Interlocked.CompareExchange(ref _lastSweep, now.UtcTicks, last) != last) return;
        var expired = _store.ListDocuments(IdentityConstants.Module, TokenKind)
            .Where(d => ReadToken(d.Body).ExpiresAt <= now).Select(d => d.Key).ToList();
        if (expired.Count == 0) return;
        await _store.WriteAsync(w => { foreach (var k in expired) w.DeleteDocument(IdentityConstants.Module, TokenKind, k); }, durable: false, ct);
        foreach (var k in expired) _tokens.TryRemove(k, out _);
        Log.TokensSwept(_log, expired.Count);
    }

    private static CairnException Unauthorized() => CairnException.Unauthorized("The request you have made requires authentication.");

    private static bool InDomain(string? id, string? name) =>
        (id is null || id == IdentityConstants.DomainId) && (name is null || name == IdentityConstants.DomainName) && (id ?? name) is not null;

    /// <summary>The SHA-256 of a token (hex): the only form a token is stored in.</summary>
    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string NewId() => Guid.NewGuid().ToString("N");

    private static void CheckName(string name, string what)
    {
        if (string.IsNullOrWhiteSpace(name)) throw CairnException.Invalid($"{what} name: required");
        if (name.Length > 64) throw CairnException.Invalid($"{what} name: at most 64 characters");
        if (name.Trim() != name) throw CairnException.Invalid($"{what} name: must not begin or end with spaces");
        if (name.Any(char.IsControl)) throw CairnException.Invalid($"{what} name: must not contain control characters");
        // Names and ids are both accepted wherever one is named: a name that looks like an id would be ambiguous.
        if (name.Length == 32 && name.All(char.IsAsciiHexDigitLower)) throw CairnException.Invalid($"{what} name: '{name}' looks like an id (32 hex digits); choose another");
    }

    private static void CheckRole(string role)
    {
        if (!IdentityConstants.AllRoles.Contains(role)) throw CairnException.Invalid($"role: '{role}' is not admin, member or reader");
    }

    private static Dictionary<TK, TV> With<TK, TV>(IReadOnlyDictionary<TK, TV> d, TK key, TV value) where TK : notnull =>
        new(d) { [key] = value };

    private static Dictionary<string, IReadOnlyList<string>> Without(IReadOnlyDictionary<string, IReadOnlyList<string>> d, string key)
    {
        var r = new Dictionary<string, IReadOnlyList<string>>(d);
        r.Remove(key);
        return r;
    }

    // ---- documents ------------------------------------------------------------------------------------------------

    private static Model Load(IStateStore store)
    {
        var projects = store.ListDocuments(IdentityConstants.Module, ProjectKind)
            .Select(d => new IdentityProject(d.Key, (string)d.Body["name"]!, (string?)d.Body["description"] ?? "", Time(d.Body["created"])))
            .ToDictionary(p => p.Id, StringComparer.Ordinal);
        var users = store.ListDocuments(IdentityConstants.Module, UserKind).Select(d =>
        {
            var roles = (d.Body["roles"] as JsonObject ?? [])
                .ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)[.. kv.Value!.AsArray().Select(r => (string)r!)], StringComparer.Ordinal);
            var u = new IdentityUser(d.Key, (string)d.Body["name"]!, (string?)d.Body["default_project_id"], roles, Time(d.Body["created"]));
            return (User: u, Password: (JsonObject)d.Body["password"]!.DeepClone());
        }).ToDictionary(u => u.User.Id, StringComparer.Ordinal);
        return new Model(projects, users);
    }

    private static DocumentRecord Document(IdentityProject p) => new(IdentityConstants.Module, ProjectKind, p.Id, p.Id, new JsonObject
    {
        ["name"] = p.Name,
        ["description"] = p.Description,
        ["domain_id"] = IdentityConstants.DomainId,
        ["created"] = Stamp(p.Created),
    }, p.Created);

    private DocumentRecord Document(IdentityUser u, JsonObject password)
    {
        var roles = new JsonObject();
        foreach (var (project, held) in u.Roles) roles[project] = new JsonArray([.. held.Select(r => (JsonNode)r)]);
        return new(IdentityConstants.Module, UserKind, u.Id, u.DefaultProjectId, new JsonObject
        {
            ["name"] = u.Name,
            ["domain_id"] = IdentityConstants.DomainId,
            ["default_project_id"] = u.DefaultProjectId,
            ["roles"] = roles,
            ["password"] = password.DeepClone(),
            ["created"] = Stamp(u.Created),
        }, Now);
    }

    private static JsonObject WriteToken(StoredToken t) => new()
    {
        ["user_id"] = t.UserId,
        ["project_id"] = t.ProjectId,
        ["methods"] = new JsonArray([.. t.Methods.Select(x => (JsonNode)x)]),
        ["issued_at"] = Stamp(t.IssuedAt),
        ["expires_at"] = Stamp(t.ExpiresAt),
        ["audit_ids"] = new JsonArray([.. t.AuditIds.Select(x => (JsonNode)x)]),
    };

    private static StoredToken ReadToken(JsonObject b) => new(
        (string)b["user_id"]!, (string?)b["project_id"],
        [.. b["methods"]!.AsArray().Select(x => (string)x!)],
        Time(b["issued_at"]), Time(b["expires_at"]),
        [.. b["audit_ids"]!.AsArray().Select(x => (string)x!)]);

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Time(JsonNode? n) => DateTimeOffset.Parse((string)n!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2701, Level = LogLevel.Information, Message = "token issued to {User} for {Project} (audit id {AuditId})")]
        public static partial void TokenIssued(ILogger logger, string user, string project, string auditId);

        [LoggerMessage(EventId = 2702, Level = LogLevel.Warning, Message = "authentication failed for user {User}")]
        public static partial void AuthFailed(ILogger logger, string user);

        [LoggerMessage(EventId = 2703, Level = LogLevel.Warning, Message = "user {User} refused a token for project {Project}: no such project, or no role there")]
        public static partial void ScopeRefused(ILogger logger, string user, string project);

        [LoggerMessage(EventId = 2704, Level = LogLevel.Information, Message = "{Count} expired tokens deleted")]
        public static partial void TokensSwept(ILogger logger, int count);
    }
}

internal static class DictionaryExtensions
{
    public static bool IsEmpty<TK, TV>(this IReadOnlyDictionary<TK, TV> d) => d.Count == 0;
}
