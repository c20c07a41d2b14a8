using System.Text;
using Cairn.Core.Identity;
using Cairn.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Core.Tests.Identity;

/// <summary>
/// The identity module over a real SQLite store with a clock the test sets: tokens expire, are revoked, follow role
/// changes; failures give nothing away; passwords and tokens are never stored in clear.
/// </summary>
public sealed class IdentityServiceTests : IDisposable
{
    private const string Password = "correct horse battery";
    private readonly TempDir _dir = new();
    private readonly Clock _clock = new(new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero));
    private SqliteStateStore _store;
    private IdentityService _ids;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public IdentityServiceTests()
    {
        _store = new SqliteStateStore(_dir.File("state.db"));
        _ids = Open();
    }

    // Few iterations: these tests are about the rules, not the hash's cost (PasswordHashTests checks the default).
    private IdentityService Open() => new(_store, new IdentityOptions { TokenLifetime = TimeSpan.FromMinutes(10), PasswordIterations = 1000, Clock = _clock }, NullLogger<IdentityService>.Instance);

    private void Reopen()
    {
        _ids.Dispose();
        _store.Dispose();
        _store = new SqliteStateStore(_dir.File("state.db"));
        _ids = Open();
    }

    public void Dispose()
    {
        _ids.Dispose();
        _store.Dispose();
        _dir.Dispose();
    }

    private async Task<(IdentityProject Project, IdentityUser User)> AliceAsync(string role = Roles.Member)
    {
        var p = await _ids.CreateProjectAsync("demo", null, Ct);
        var u = await _ids.CreateUserAsync("alice", Password, "demo", role, Ct);
        return (p, u);
    }

    private static PasswordCredentials ByName(string user, string password) => new(null, user, null, "Default", password);

    private static ProjectScope Scope(string project) => new(null, project, "default", null);

    [Fact]
    public async Task A_token_stands_for_its_user_project_and_roles_until_it_expires()
    {
        var (p, u) = await AliceAsync();
        var t = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        Assert.True(Encoding.ASCII.GetByteCount(t.Token) >= 43, "at least 32 random bytes");
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromMinutes(10), t.View.ExpiresAt);

        var caller = await _ids.ValidateAsync(t.Token, Ct);
        Assert.Equal((u.Id, "alice", p.Id, "demo"), (caller!.UserId, caller.UserName, caller.ProjectId, caller.ProjectName));
        Assert.Equal([Roles.Member, Roles.Reader], caller.Roles);
        Assert.True(caller.CanWrite);
        Assert.False(caller.IsAdmin);

        _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(1));
        Assert.NotNull(await _ids.ValidateAsync(t.Token, Ct));
        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.Null(await _ids.ValidateAsync(t.Token, Ct));
        Assert.Null(await _ids.ValidateTokenAsync(t.Token, Ct));
    }

    [Fact]
    public async Task A_revoked_token_stays_revoked_after_a_restart_and_others_keep_working()
    {
        await AliceAsync();
        var a = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        var b = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        Assert.True(await _ids.RevokeAsync(a.Token, Ct));
        Assert.False(await _ids.RevokeAsync(a.Token, Ct));
        Reopen();
        Assert.Null(await _ids.ValidateAsync(a.Token, Ct));
        Assert.NotNull(await _ids.ValidateAsync(b.Token, Ct));
    }

    [Fact]
    public async Task Wrong_password_unknown_user_and_foreign_project_fail_alike()
    {
        await AliceAsync();
        await _ids.CreateProjectAsync("other", null, Ct);
        var failures = new List<CairnException>
        {
            await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(ByName("alice", "wrong password"), Scope("demo"), Ct)),
            await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(ByName("nobody", Password), Scope("demo"), Ct)),
            await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(new PasswordCredentials(null, "alice", "elsewhere", null, Password), Scope("demo"), Ct)),
            await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(ByName("alice", Password), Scope("other"), Ct)),
            await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(ByName("alice", Password), Scope("missing"), Ct)),
        };
        Assert.All(failures, e => Assert.Equal((ErrorKind.Unauthorized, "The request you have made requires authentication."), (e.Kind, e.Message)));
    }

    [Fact]
    public async Task Without_a_scope_the_default_project_is_used_and_by_id_works_too()
    {
        var (p, u) = await AliceAsync();
        var t = await _ids.AuthenticateAsync(new PasswordCredentials(u.Id, null, null, null, Password), null, Ct);
        Assert.Equal(p.Id, t.View.Project?.Id);
        var byId = await _ids.AuthenticateAsync(ByName("alice", Password), new ProjectScope(p.Id, null, null, null), Ct);
        Assert.Equal(p.Id, byId.View.Project?.Id);
    }

    [Fact]
    public async Task Roles_taken_away_and_users_deleted_end_their_tokens_at_once()
    {
        var (p, _) = await AliceAsync(Roles.Admin);
        var t = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        Assert.Equal([Roles.Admin, Roles.Member, Roles.Reader], (await _ids.ValidateAsync(t.Token, Ct))!.Roles);

        await _ids.GrantAsync("alice", "demo", Roles.Reader, Ct);
        await _ids.RevokeRoleAsync("alice", p.Id, Roles.Admin, Ct);
        var reader = await _ids.ValidateAsync(t.Token, Ct);
        Assert.Equal([Roles.Reader], reader!.Roles);
        Assert.False(reader.CanWrite);

        await _ids.DeleteUserAsync("alice", Ct);
        Assert.Null(await _ids.ValidateAsync(t.Token, Ct));
        await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct));
    }

    [Fact]
    public async Task A_rescoped_token_keeps_the_first_ones_expiry()
    {
        await AliceAsync();
        await _ids.CreateProjectAsync("second", null, Ct);
        await _ids.GrantAsync("alice", "second", Roles.Reader, Ct);
        var first = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        _clock.Advance(TimeSpan.FromMinutes(3));
        var second = await _ids.AuthenticateAsync(first.Token, Scope("second"), Ct);
        Assert.Equal(("second", first.View.ExpiresAt), (second.View.Project?.Name, second.View.ExpiresAt));
        Assert.Equal(["token", "password"], second.View.Methods);
        Assert.Equal(first.View.AuditIds[0], second.View.AuditIds[1]);
    }

    [Fact]
    public async Task Passwords_and_tokens_are_never_stored_in_clear()
    {
        await AliceAsync();
        var t = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        await _ids.SetPasswordAsync("alice", "another long password", Ct);
        _store.Dispose();
        foreach (var f in Directory.GetFiles(_dir.Path))
        {
            var bytes = await File.ReadAllBytesAsync(f, Ct);
            foreach (var secret in new[] { Password, "another long password", t.Token })
                Assert.False(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0, $"{Path.GetFileName(f)} holds a secret in clear");
        }
        _store = new SqliteStateStore(_dir.File("state.db"));
        _ids = Open();
        Assert.NotNull(await _ids.AuthenticateAsync(ByName("alice", "another long password"), Scope("demo"), Ct));
        await Assert.ThrowsAsync<CairnException>(() => _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct));
    }

    [Theory]
    [InlineData("", "demo", "member", "user name: required")]
    [InlineData(" bob", "demo", "member", "user name: must not begin or end with spaces")]
    [InlineData("0123456789abcdef0123456789abcdef", "demo", "member", "looks like an id")]
    [InlineData("bob", "nowhere", "member", "project nowhere does not exist")]
    [InlineData("bob", "demo", "owner", "role: 'owner' is not admin, member or reader")]
    [InlineData("alice", "demo", "member", "user alice already exists")]
    public async Task Bad_users_are_refused_and_change_nothing(string name, string project, string role, string why)
    {
        await AliceAsync();
        var e = await Assert.ThrowsAsync<CairnException>(() => _ids.CreateUserAsync(name, Password, project, role, Ct));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.Equal(["alice"], _ids.ListUsers().Select(u => u.Name));
    }

    [Fact]
    public async Task Short_passwords_are_refused()
    {
        await _ids.CreateProjectAsync("demo", null, Ct);
        var e = await Assert.ThrowsAsync<CairnException>(() => _ids.CreateUserAsync("bob", "short", "demo", Roles.Member, Ct));
        Assert.Equal("password: at least 8 characters", e.Message);
        Assert.Empty(_ids.ListUsers());
    }

    [Fact]
    public async Task Bootstrap_runs_once_and_writes_the_password_to_a_private_file()
    {
        var file = _dir.File("admin-password");
        Assert.Equal(file, await _ids.BootstrapAsync(file, Ct));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var password = (await File.ReadAllTextAsync(file, Ct)).TrimEnd('\n');
        Assert.True(password.Length >= 32);
        var t = await _ids.AuthenticateAsync(ByName("admin", password), Scope("admin"), Ct);
        Assert.True((await _ids.ValidateAsync(t.Token, Ct))!.IsAdmin);

        Reopen();
        Assert.Null(await _ids.BootstrapAsync(file, Ct));
        Assert.Equal(password, (await File.ReadAllTextAsync(file, Ct)).TrimEnd('\n'));
    }

    [Fact]
    public async Task Deleting_a_project_takes_its_roles_away()
    {
        await AliceAsync();
        var t = await _ids.AuthenticateAsync(ByName("alice", Password), Scope("demo"), Ct);
        await _ids.DeleteProjectAsync("demo", Ct);
        Assert.Null(await _ids.ValidateAsync(t.Token, Ct));
        Reopen();
        var alice = _ids.GetUser("alice");
        Assert.Empty(alice.Roles);
        Assert.Null(alice.DefaultProjectId);
    }

    /// <summary>A clock the test moves.</summary>
    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}

/// <summary>The stored hash: slow by default, salted, and verified only by the right password.</summary>
public sealed class PasswordHashTests
{
    [Fact]
    public void Hashes_are_salted_slow_and_verify_only_the_right_password()
    {
        var a = PasswordHash.Create("a long enough password");
        var b = PasswordHash.Create("a long enough password");
        Assert.Equal(("pbkdf2-sha256", 600_000), ((string?)a["algorithm"], (int?)a["iterations"]));
        Assert.NotEqual((string?)a["salt"], (string?)b["salt"]);
        Assert.NotEqual((string?)a["hash"], (string?)b["hash"]);
        Assert.True(PasswordHash.Verify("a long enough password", a));
        Assert.False(PasswordHash.Verify("a long enough passwore", a));
        Assert.False(PasswordHash.Verify("a long enough password", null));
        Assert.DoesNotContain("a long enough password", a.ToJsonString(), StringComparison.Ordinal);
    }
}
