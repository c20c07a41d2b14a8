using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Support;

/// <summary>
/// A real <c>cairn serve --auth keystone</c> serving the Block Storage API from the pool <c>volumes</c>, with a project
/// and an admin user made by the CLI (<c>cairn project create</c>, <c>cairn user create --password-file</c>), the shape
/// TempestTests uses through tests/tempest/run.sh. One per test class (<c>IClassFixture&lt;OpenStackCloud&gt;</c>): the
/// OpenStack clients' tests use names of their own; a test that restarts the server sets <see cref="Server"/>.
/// </summary>
public sealed class OpenStackCloud : IAsyncLifetime
{
    /// <summary>The pool Block Storage volumes live in.</summary>
    public const string Pool = "volumes";

    public string Dir { get; } = TempDir.Create("cairn-openstack");
    public string DataDir => Path.Combine(Dir, "data");
    public CairnProcess Server { get; set; } = null!;
    public OpenStackUser Admin { get; private set; } = null!;

    /// <summary>Starts a keystone-auth server with Block Storage on <paramref name="dataDir"/>; a restart passes the
    /// ports of the server it replaces (the clients' auth URL stays the same).</summary>
    public static Task<CairnProcess> StartServerAsync(string dataDir, CairnProcess? replacing = null) =>
        CairnProcess.StartAsync(dataDir, ["--auth", "keystone"], httpPort: replacing?.HttpPort, iscsiPort: replacing?.IscsiPort,
            env: new Dictionary<string, string> { ["CAIRN_POOLS"] = Pool, ["CAIRN_BLOCK_STORAGE_POOL"] = Pool, ["CAIRN_BACKUP_DIR"] = BackupDirOf(dataDir) });

    /// <summary>The backup directory (StarlingX exports and imports) of a server on <paramref name="dataDir"/>: next to it, inside the test's temp dir.</summary>
    public static string BackupDirOf(string dataDir) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dataDir))!, "backups");

    public async ValueTask InitializeAsync()
    {
        Server = await StartServerAsync(DataDir);
        Admin = await OpenStackUser.CreateAsync(Server, Dir, "clients", "admin");
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>A project and a user in it, made with the CLI over the server's Unix socket.</summary>
public sealed record OpenStackUser(string Identity, string Project, string User, string Password, string Dir)
{
    public static async Task<OpenStackUser> CreateAsync(CairnProcess server, string dir, string name, string role)
    {
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var file = Path.Combine(dir, name + ".password");
        await File.WriteAllTextAsync(file, password);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (await server.LocalCliAsync("project", "create", name)).Ok();
        (await server.LocalCliAsync("user", "create", name, "--project", name, "--role", role, "--password-file", file)).Ok();
        var user = new OpenStackUser(server.Url + "/identity/v3", name, name, password, dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "clouds.yaml"), user.CloudsYaml());
        return user;
    }

    /// <summary>The <c>OS_*</c> environment of <c>cinder</c> and openstacksdk (password auth through Cairn's identity
    /// service); every other <c>OS_*</c> variable of the test's own environment is removed.</summary>
    public IReadOnlyDictionary<string, string?> Environment()
    {
        var env = new Dictionary<string, string?>();
        foreach (var key in System.Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("OS_", StringComparison.Ordinal)))
            env[key] = null;
        env["OS_AUTH_URL"] = Identity;
        env["OS_AUTH_TYPE"] = "password";
        env["OS_USERNAME"] = User;
        env["OS_PASSWORD"] = Password;
        env["OS_PROJECT_NAME"] = Project;
        env["OS_USER_DOMAIN_NAME"] = "Default";
        env["OS_PROJECT_DOMAIN_NAME"] = "Default";
        env["OS_IDENTITY_API_VERSION"] = "3";
        env["OS_VOLUME_API_VERSION"] = "3";
        env["PYTHONDONTWRITEBYTECODE"] = "1";
        return env;
    }

    /// <summary>The same cloud for the <c>openstack</c> CLI (<c>OS_CLOUD=cairn</c>, run in <see cref="Dir"/>), with
    /// <c>has_image: false</c>: python3-openstackclient 6.0's <c>volume create</c> builds an image client even without
    /// <c>--image</c> and fails in a cloud with no Image service unless told there is none.</summary>
    public string CloudsYaml() => $"""
        clouds:
          cairn:
            auth:
              auth_url: {Identity}
              username: "{User}"
              password: "{Password}"
              project_name: "{Project}"
              user_domain_name: Default
              project_domain_name: Default
            identity_api_version: 3
            volume_api_version: 3
            has_image: false
        """;

    /// <summary>A project-scoped token and the project's id, from <c>POST /identity/v3/auth/tokens</c>.</summary>
    public async Task<(string Token, string ProjectId)> TokenAsync(HttpClient http)
    {
        var body = new JsonObject
        {
            ["auth"] = new JsonObject
            {
                ["identity"] = new JsonObject
                {
                    ["methods"] = new JsonArray("password"),
                    ["password"] = new JsonObject { ["user"] = new JsonObject { ["name"] = User, ["password"] = Password, ["domain"] = new JsonObject { ["name"] = "Default" } } },
                },
                ["scope"] = new JsonObject { ["project"] = new JsonObject { ["name"] = Project, ["domain"] = new JsonObject { ["name"] = "Default" } } },
            },
        };
        using var r = await http.PostAsJsonAsync(Identity + "/auth/tokens", body);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"POST /auth/tokens answered {(int)r.StatusCode}: {text}");
        var project = JsonNode.Parse(text)!["token"]!["project"]!["id"]!.GetValue<string>();
        return (r.Headers.GetValues("X-Subject-Token").Single(), project);
    }
}

/// <summary>The prettytables python-cinderclient prints.</summary>
public static class PrettyTable
{
    /// <summary>The rows of the (first) table in <paramref name="output"/>, each a column → cell map.</summary>
    public static List<Dictionary<string, string>> Rows(string output)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith('|')).ToList();
        Assert.True(lines.Count > 0, "no table in:\n" + output);
        static string[] Cells(string line) => [.. line.Trim('|').Split('|').Select(c => c.Trim())];
        var header = Cells(lines[0]);
        return [.. lines.Skip(1).Select(l => header.Zip(Cells(l)).ToDictionary(p => p.First, p => p.Second))];
    }

    /// <summary>A Property/Value table (<c>cinder show</c>, <c>create</c>, <c>quota-show</c>…) as a map.</summary>
    public static Dictionary<string, string> Properties(string output) =>
        Rows(output).ToDictionary(r => r.Values.First(), r => r.Values.Skip(1).First());
}
