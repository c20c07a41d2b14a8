using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>
/// The identity service against a real <c>cairn serve</c>, driven by the real OpenStack clients (python3-openstackclient,
/// python3-openstacksdk from Debian): Keystone v3 password auth, the catalog, validation and revocation, expiry,
/// uniform 401s, the auth mode's rules, first-start credentials, and the CLI that manages users and projects.
/// </summary>
public sealed class IdentityTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private CairnProcess Server => shared.Server;
    private string AuthUrl => Server.Url + "/identity/v3";
    private string AdminPassword => File.ReadAllText(Path.Combine(Server.DataDir, "admin-password")).TrimEnd('\n');

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>The real <c>openstack</c> CLI with password auth through Cairn (no other OS_* variable from our environment).</summary>
    private async Task<JsonNode> OpenstackAsync(string user, string password, string project, params string[] args)
    {
        var openstack = ExternalTool.Require("openstack", "python3-openstackclient");
        var env = new Dictionary<string, string?>
        {
            ["OS_AUTH_URL"] = AuthUrl, ["OS_USERNAME"] = user, ["OS_PASSWORD"] = password, ["OS_PROJECT_NAME"] = project,
            ["OS_USER_DOMAIN_NAME"] = "Default", ["OS_PROJECT_DOMAIN_NAME"] = "Default", ["OS_IDENTITY_API_VERSION"] = "3",
            ["OS_CLOUD"] = null, ["OS_TOKEN"] = null, ["OS_REGION_NAME"] = null,
        };
        var r = await Commands.RunAsync(openstack, [.. args, "-f", "json"], TimeSpan.FromMinutes(2), env);
        Assert.True(r.Exit() == 0, $"openstack {string.Join(' ', args)}: {r.Output()}\nserver log:\n{Server.Log}");
        return JsonNode.Parse(r.StdOut)!;
    }

    private async Task<string> AdminProjectIdAsync() =>
        (string)(await Server.CliAsync("project", "list", "--json")).Json().AsArray().Single(p => (string?)p!["name"] == "admin")!["id"]!;

    private static string PasswordBody(string user, string password, string? project) =>
        new JsonObject
        {
            ["auth"] = new JsonObject
            {
                ["identity"] = new JsonObject
                {
                    ["methods"] = new JsonArray("password"),
                    ["password"] = new JsonObject { ["user"] = new JsonObject { ["name"] = user, ["domain"] = new JsonObject { ["id"] = "default" }, ["password"] = password } },
                },
                ["scope"] = project is null ? null : new JsonObject { ["project"] = new JsonObject { ["name"] = project, ["domain"] = new JsonObject { ["name"] = "Default" } } },
            },
        }.ToJsonString();

    private async Task<(HttpStatusCode Code, string? Token, JsonNode? Body, HttpResponseMessage Response)> IssueAsync(string body, string? url = null)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        var r = await Http.PostAsync((url ?? AuthUrl) + "/auth/tokens", content);
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, r.Headers.TryGetValues("X-Subject-Token", out var t) ? t.Single() : null, text.Length == 0 ? null : JsonNode.Parse(text), r);
    }

    private async Task<(HttpStatusCode Code, JsonNode? Body)> TokensAsync(HttpMethod method, string auth, string subject, string? url = null)
    {
        using var req = new HttpRequestMessage(method, (url ?? AuthUrl) + "/auth/tokens");
        req.Headers.Add("X-Auth-Token", auth);
        req.Headers.Add("X-Subject-Token", subject);
        using var r = await Http.SendAsync(req);
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private async Task<string> PasswordFileAsync(string password)
    {
        var f = Path.Combine(shared.Dir, "pw-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(f, password + "\n");
        return f;
    }

    [Fact]
    public async Task Openstack_cli_issues_a_token_and_lists_the_catalog_with_password_auth()
    {
        var projectId = await AdminProjectIdAsync();
        var users = (await Server.CliAsync("user", "list", "--json")).Json().AsArray();
        var adminId = (string)users.Single(u => (string?)u!["name"] == "admin")!["id"]!;

        var token = await OpenstackAsync("admin", AdminPassword, "admin", "token", "issue");
        Assert.Equal(projectId, (string?)token["project_id"]);
        Assert.Equal(adminId, (string?)token["user_id"]);
        var expires = DateTimeOffset.Parse((string)token["expires"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(61));
        // The id it printed is a token Cairn accepts.
        var id = (string)token["id"]!;
        var (code, body) = await TokensAsync(HttpMethod.Get, id, id);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("admin", (string?)body!["token"]!["project"]!["name"]);

        var catalog = (await OpenstackAsync("admin", AdminPassword, "admin", "catalog", "list")).AsArray();
        Assert.Equal(["block-storage", "identity", "volumev3"], catalog.Select(s => (string)s!["Type"]!).Order(StringComparer.Ordinal));
        foreach (var type in new[] { "volumev3", "block-storage" })
        {
            var endpoints = catalog.Single(s => (string?)s!["Type"] == type)!["Endpoints"]!.AsArray();
            Assert.Equal(["admin", "internal", "public"], endpoints.Select(e => (string)e!["interface"]!).Order(StringComparer.Ordinal));
            Assert.All(endpoints, e => Assert.Equal($"{Server.Url}/v3/{projectId}", (string?)e!["url"]));
            Assert.All(endpoints, e => Assert.Equal("RegionOne", (string?)e!["region"]));
        }
        Assert.Equal(Server.Url + "/identity", (string?)catalog.Single(s => (string?)s!["Type"] == "identity")!["Endpoints"]![0]!["url"]);
    }

    [Fact]
    public async Task Openstacksdk_authorizes_and_its_token_validates_until_revoked()
    {
        var python = ExternalTool.Require("/usr/bin/python3", "python3-openstacksdk");
        (await Server.CliAsync("project", "create", "sdk-demo")).Ok();
        (await Server.CliAsync("user", "create", "sdk-alice", "--project", "sdk-demo", "--role", "member", "--password-file", await PasswordFileAsync("alice's long password"))).Ok();
        (await Server.CliAsync("user", "create", "sdk-bob", "--project", "sdk-demo", "--role", "member", "--password-file", await PasswordFileAsync("bob's long password"))).Ok();
        var projectId = (string)(await Server.CliAsync("project", "show", "sdk-demo", "--json")).Json()["id"]!;

        const string Script = """
            import json, sys, openstack
            conn = openstack.connect(auth_url=sys.argv[1], username='sdk-alice', password=sys.argv[2], project_name='sdk-demo',
                                     user_domain_name='Default', project_domain_name='Default')
            token = conn.authorize()
            endpoint = conn.session.get_endpoint(service_type='block-storage', interface='public')
            print(json.dumps({'token': token, 'project_id': conn.current_project_id, 'user_id': conn.current_user_id, 'endpoint': endpoint}))
            """;
        var r = await Commands.RunAsync(python, ["-c", Script, AuthUrl, "alice's long password"], TimeSpan.FromMinutes(2),
            new Dictionary<string, string?> { ["OS_CLOUD"] = null, ["OS_AUTH_URL"] = null });
        Assert.True(r.Exit() == 0, r.Output());
        var sdk = JsonNode.Parse(r.StdOut.Trim().Split('\n')[^1])!;
        Assert.Equal(projectId, (string?)sdk["project_id"]);
        Assert.Equal($"{Server.Url}/v3/{projectId}", (string?)sdk["endpoint"]);
        var token = (string)sdk["token"]!;

        // Its own token: validated (GET and HEAD), with the Keystone fields clients read.
        var (code, body) = await TokensAsync(HttpMethod.Get, token, token);
        Assert.Equal(HttpStatusCode.OK, code);
        var t = body!["token"]!;
        Assert.Equal(["password"], t["methods"]!.AsArray().Select(m => (string)m!));
        Assert.Equal(("sdk-alice", "default", "Default"), ((string?)t["user"]!["name"], (string?)t["user"]!["domain"]!["id"], (string?)t["user"]!["domain"]!["name"]));
        Assert.Equal((string?)sdk["user_id"], (string?)t["user"]!["id"]);
        Assert.Equal(("sdk-demo", projectId), ((string?)t["project"]!["name"], (string?)t["project"]!["id"]));
        Assert.Equal(["member", "reader"], t["roles"]!.AsArray().Select(x => (string)x!["name"]!));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", (string)t["expires_at"]!);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", (string)t["issued_at"]!);
        Assert.Contains("volumev3", t["catalog"]!.AsArray().Select(s => (string)s!["type"]!));
        Assert.Equal(HttpStatusCode.OK, (await TokensAsync(HttpMethod.Head, token, token)).Code);

        // Another member may not look at it; an admin may.
        var (_, bob, _, _) = await IssueAsync(PasswordBody("sdk-bob", "bob's long password", "sdk-demo"));
        Assert.Equal(HttpStatusCode.Forbidden, (await TokensAsync(HttpMethod.Get, bob!, token)).Code);
        var (_, admin, _, _) = await IssueAsync(PasswordBody("admin", AdminPassword, "admin"));
        Assert.Equal(HttpStatusCode.OK, (await TokensAsync(HttpMethod.Get, admin!, token)).Code);

        // Revoked: gone for validation, and no longer a credential either.
        Assert.Equal(HttpStatusCode.NoContent, (await TokensAsync(HttpMethod.Delete, token, token)).Code);
        var gone = await TokensAsync(HttpMethod.Get, admin!, token);
        Assert.Equal(HttpStatusCode.NotFound, gone.Code);
        Assert.Equal(404, (int?)gone.Body!["error"]!["code"]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await TokensAsync(HttpMethod.Get, token, admin!)).Code);
        Assert.Equal(HttpStatusCode.OK, (await TokensAsync(HttpMethod.Get, bob!, bob!)).Code);
    }

    [Fact]
    public async Task Wrong_credentials_answer_the_same_401_that_names_nothing()
    {
        (await Server.CliAsync("project", "create", "auth-demo")).Ok();
        (await Server.CliAsync("project", "create", "auth-other")).Ok();
        (await Server.CliAsync("user", "create", "auth-carol", "--project", "auth-demo", "--password-file", await PasswordFileAsync("carol's long password"))).Ok();
        var answers = new List<string>();
        foreach (var body in new[]
        {
            PasswordBody("auth-carol", "not carol's password", "auth-demo"),
            PasswordBody("auth-nobody", "carol's long password", "auth-demo"),
            PasswordBody("auth-carol", "carol's long password", "auth-other"),
            PasswordBody("auth-carol", "carol's long password", "auth-missing"),
        })
        {
            var (code, token, json, resp) = await IssueAsync(body);
            Assert.Equal(HttpStatusCode.Unauthorized, code);
            Assert.Null(token);
            Assert.Equal($"Keystone uri=\"{Server.Url}/identity\"", resp.Headers.WwwAuthenticate.ToString());
            answers.Add(json!.ToJsonString());
        }
        Assert.Single(answers.Distinct());
        Assert.Equal("""{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}""", answers[0]);

        // Malformed requests are Keystone's 400, naming the field.
        var (bad, _, badBody, _) = await IssueAsync("""{"auth":{"identity":{"methods":"password"}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal(("Bad Request", 400), ((string?)badBody!["error"]!["title"], (int?)badBody["error"]!["code"]));
        Assert.Contains("identity/methods", (string)badBody["error"]!["message"]!, StringComparison.Ordinal);
        // And a forged token is a 401.
        Assert.Equal(HttpStatusCode.Unauthorized, (await TokensAsync(HttpMethod.Get, "forged-token", "forged-token")).Code);
    }

    [Fact]
    public async Task Version_discovery_answers_at_identity_and_identity_v3()
    {
        using var versions = await Http.GetAsync(Server.Url + "/identity");
        Assert.Equal(HttpStatusCode.MultipleChoices, versions.StatusCode);
        var v = JsonNode.Parse(await versions.Content.ReadAsStringAsync())!["versions"]!["values"]![0]!;
        Assert.Equal(("v3.14", "stable"), ((string?)v["id"], (string?)v["status"]));
        foreach (var path in new[] { "/identity/v3", "/identity/v3/" })
        {
            var one = JsonNode.Parse(await Http.GetStringAsync(Server.Url + path))!["version"]!;
            Assert.Equal(Server.Url + "/identity/v3/", (string?)one["links"]![0]!["href"]);
            Assert.Equal("application/vnd.openstack.identity-v3+json", (string?)one["media-types"]![0]!["type"]);
        }
    }

    [Fact]
    public async Task Passwords_and_tokens_never_reach_the_log_or_the_store_in_clear()
    {
        const string Password = "dave's secret passphrase";
        const string Wrong = "dave's mistyped passphrase";
        (await Server.CliAsync("project", "create", "leak-demo")).Ok();
        (await Server.CliAsync("user", "create", "leak-dave", "--project", "leak-demo", "--password-file", await PasswordFileAsync(Password))).Ok();
        (await Server.LocalCliAsync("user", "password", "leak-dave", "--password-file", await PasswordFileAsync(Password + " 2"))).Ok();
        var (ok, token, _, _) = await IssueAsync(PasswordBody("leak-dave", Password + " 2", "leak-demo"));
        Assert.Equal(HttpStatusCode.Created, ok);
        Assert.Equal(HttpStatusCode.Unauthorized, (await IssueAsync(PasswordBody("leak-dave", Wrong, "leak-demo"))).Code);
        Assert.True(await Server.WaitForLogAsync("authentication failed for user leak-dave"));

        string[] secrets = [Password, Password + " 2", Wrong, token!, AdminPassword];
        foreach (var secret in secrets) Assert.DoesNotContain(secret, Server.Log, StringComparison.Ordinal);
        foreach (var f in Directory.EnumerateFiles(Server.DataDir, "*", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(f) is "admin-password" or "cairn.sock" or "cairn.lock") continue;
            var bytes = await File.ReadAllBytesAsync(f);
            foreach (var secret in secrets)
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, $"{f} holds a secret in clear");
        }
    }

    [Fact]
    public async Task Cli_manages_projects_and_users_in_the_shapes_checks_use()
    {
        var created = await Server.CliAsync("project", "create", "cli-demo");
        Assert.Matches(@"(?m)^name: +cli-demo$", created.Ok().Stdout);
        Assert.Matches(@"(?m)^id: +[0-9a-f]{32}$", created.Stdout);
        var list = (await Server.CliAsync("project", "list")).Ok().Stdout.Split('\n');
        Assert.Matches(@"^NAME +ID +DESCRIPTION +CREATED$", list[0]);
        Assert.Contains(list, l => l.StartsWith("cli-demo ", StringComparison.Ordinal));

        var pw = await PasswordFileAsync("erin's long password");
        var user = (await Server.CliAsync("user", "create", "cli-erin", "--project", "cli-demo", "--role", "reader", "--password-file", pw, "--json")).Json();
        Assert.Equal(("cli-erin", "cli-demo", "reader"), ((string?)user["name"], (string?)user["default_project"], (string?)user["roles"]![0]!["role"]));
        Assert.Null(user["password"]);
        var users = (await Server.CliAsync("user", "list")).Ok().Stdout;
        Assert.Matches(@"(?m)^cli-erin +[0-9a-f]{32} +cli-demo +reader@cli-demo$", users);
        Assert.Matches(@"(?m)^roles: +member@admin, reader@cli-demo$",
            (await Server.CliAsync("role", "add", "cli-erin", "--project", "admin", "--role", "member")).Ok().Stdout);

        // The token a reader gets says reader.
        var (_, token, body, _) = await IssueAsync(PasswordBody("cli-erin", "erin's long password", "cli-demo"));
        Assert.NotNull(token);
        Assert.Equal(["reader"], body!["token"]!["roles"]!.AsArray().Select(r => (string)r!["name"]!));

        // Bad input: one error line, the documented exit code, nothing changed.
        foreach (var (args, exit, message) in new (string[], int, string)[]
        {
            (["user", "create", "cli-frank", "--project", "cli-nowhere", "--password-file", pw], 3, "error: project cli-nowhere does not exist"),
            (["user", "create", "cli-frank", "--project", "cli-demo", "--role", "owner", "--password-file", pw], 2, "error: role: 'owner' is not admin, member or reader"),
            (["user", "create", "cli-frank", "--project", "cli-demo", "--password-file", pw + ".missing"], 3, $"error: --password-file: {pw}.missing does not exist"),
            (["user", "create", "cli-erin", "--project", "cli-demo", "--password-file", pw], 1, "error: user cli-erin already exists"),
            (["user", "create", "cli-frank", "--project", "cli-demo", "--password-file", await PasswordFileAsync("short")], 2, "error: password: at least 8 characters"),
            (["project", "create", "cli-demo"], 1, "error: project cli-demo already exists"),
            (["user", "delete", "cli-nobody"], 3, "error: user cli-nobody does not exist"),
        })
        {
            var r = await Server.CliAsync(args);
            Assert.True(r.ExitCode == exit, $"cairn {string.Join(' ', args)}: exit {r.ExitCode}, {r.Stderr}");
            Assert.Equal(message, r.Stderr.TrimEnd('\n'));
        }
        Assert.DoesNotContain("cli-frank", (await Server.CliAsync("user", "list")).Ok().Stdout, StringComparison.Ordinal);

        Assert.Equal("deleted: cli-erin", (await Server.CliAsync("user", "delete", "cli-erin")).Ok().Stdout.Trim());
        Assert.Equal(HttpStatusCode.Unauthorized, (await TokensAsync(HttpMethod.Get, token!, token!)).Code);
    }
}

/// <summary>Identity behaviour that needs a server of its own: first start, token lifetime, the auth mode.</summary>
public sealed class IdentityServerTests
{
    [Fact]
    public async Task First_start_writes_the_admin_password_once_to_a_private_file_and_logs_only_its_path()
    {
        var data = Path.Combine(TempDir.Create("cairn-first"), "data");
        string password;
        var file = Path.Combine(data, "admin-password");
        await using (var s = await CairnProcess.StartAsync(data))
        {
            Assert.True(await s.WaitForLogAsync("first start: created project admin and user admin"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            password = (await File.ReadAllTextAsync(file)).TrimEnd('\n');
            Assert.True(password.Length >= 32, "a generated password, not a fixed one");
            Assert.Contains(file, s.Log, StringComparison.Ordinal);
            Assert.DoesNotContain(password, s.Log, StringComparison.Ordinal);
        }
        await using (var again = await CairnProcess.StartAsync(data))
        {
            Assert.DoesNotContain("first start", again.Log, StringComparison.Ordinal);
            Assert.Equal(password, (await File.ReadAllTextAsync(file)).TrimEnd('\n'));
        }
        // Another server's first start makes another password.
        var other = Path.Combine(TempDir.Create("cairn-first"), "data");
        await using (var s = await CairnProcess.StartAsync(other))
            Assert.NotEqual(password, (await File.ReadAllTextAsync(Path.Combine(other, "admin-password"))).TrimEnd('\n'));
    }

    [Fact]
    public async Task Tokens_expire_after_the_configured_lifetime()
    {
        await using var s = await CairnProcess.StartAsync(env: new Dictionary<string, string> { ["CAIRN_TOKEN_EXPIRATION"] = "2" });
        var password = (await File.ReadAllTextAsync(Path.Combine(s.DataDir, "admin-password"))).TrimEnd('\n');
        using var http = new HttpClient();
        var body = new JsonObject
        {
            ["auth"] = new JsonObject
            {
                ["identity"] = new JsonObject
                {
                    ["methods"] = new JsonArray("password"),
                    ["password"] = new JsonObject { ["user"] = new JsonObject { ["name"] = "admin", ["domain"] = new JsonObject { ["id"] = "default" }, ["password"] = password } },
                },
                ["scope"] = new JsonObject { ["project"] = new JsonObject { ["name"] = "admin", ["domain"] = new JsonObject { ["id"] = "default" } } },
            },
        }.ToJsonString();
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var resp = await http.PostAsync(s.Url + "/identity/v3/auth/tokens", content);
        Assert.Equal(HttpStatusCode.Created, resp.StatusCode);
        var token = resp.Headers.GetValues("X-Subject-Token").Single();
        var expires = DateTimeOffset.Parse((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["token"]!["expires_at"]!, System.Globalization.CultureInfo.InvariantCulture);
        var issued = DateTimeOffset.Parse((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["token"]!["issued_at"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.FromSeconds(2), expires - issued);

        async Task<HttpStatusCode> Validate()
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, s.Url + "/identity/v3/auth/tokens");
            req.Headers.Add("X-Auth-Token", token);
            req.Headers.Add("X-Subject-Token", token);
            using var r = await http.SendAsync(req);
            return r.StatusCode;
        }
        var first = await Validate();
        Assert.True(first == HttpStatusCode.OK || DateTimeOffset.UtcNow >= expires, $"valid before {expires:O}: {first}");
        // Wait for the expiry itself (the server's clock), not for a fixed time.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        HttpStatusCode now;
        while ((now = await Validate()) == HttpStatusCode.OK && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(HttpStatusCode.Unauthorized, now);
        Assert.True(DateTimeOffset.UtcNow >= expires.AddMilliseconds(-50), "refused only once expired");
    }

    [Theory]
    [InlineData("--http", "0.0.0.0:{port}", "noauth", "error: --auth (CAIRN_AUTH): noauth trusts every caller as an admin, so it is for development on a loopback listener only; --http 0.0.0.0:")]
    [InlineData("--http", "127.0.0.1:{port}", "sometimes", "error: --auth (CAIRN_AUTH): 'sometimes' is not keystone or noauth")]
    [InlineData("--public-url", "ftp://example.com", "keystone", "error: --public-url (CAIRN_PUBLIC_URL): 'ftp://example.com' is not an http:// or https:// URL")]
    public async Task Bad_auth_settings_fail_the_start_with_one_line_and_write_nothing(string option, string value, string auth, string expected)
    {
        var data = Path.Combine(TempDir.Create("cairn-auth"), "data");
        var r = await CairnProcess.RunCliAsync(["serve", "--data", data, "--iscsi", "127.0.0.1:0", "--auth", auth,
            option, value.Replace("{port}", CairnProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith(expected, r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(data), "nothing written");
    }

    [Fact]
    public async Task Noauth_on_loopback_serves_without_the_identity_service_or_its_credentials()
    {
        await using var s = await CairnProcess.StartAsync(extraArgs: ["--auth", "noauth"]);
        using var http = new HttpClient();
        using var r = await http.GetAsync(s.Url + "/identity/v3");
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Contains("--auth noauth", (string)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!["message"]!, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(s.DataDir, "admin-password")));
        // Users can still be prepared for a later keystone start.
        (await s.CliAsync("project", "create", "later")).Ok();
    }
}
