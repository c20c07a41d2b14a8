using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cairn.Core.Processes;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Support;

/// <summary>
/// A lab made by <c>deploy/lab/lab.sh</c>: hosts in network namespaces behind a bridge in a controller namespace.
/// Everything that talks to the hosts (ansible-playbook, NFS clients) runs in the controller namespace
/// (<see cref="CtlAsync"/>); <see cref="ExecAsync"/> runs a command on one host.
/// </summary>
public sealed partial class InstallerLab : IAsyncDisposable
{
    public sealed record Host(string Name, string Address, string Password, IReadOnlyList<string> Devices);

    public string Name { get; }
    public string ControllerNetns { get; }
    public string Network { get; }
    public string ControllerAddress { get; }
    public string Interface { get; }
    public IReadOnlyList<Host> Hosts { get; }

    private InstallerLab(string name, JsonNode json)
    {
        Name = name;
        ControllerNetns = (string)json["controller_netns"]!;
        Network = (string)json["network"]!;
        ControllerAddress = (string)json["controller_address"]!;
        Interface = (string)json["interface"]!;
        Hosts = [.. json["hosts"]!.AsArray().Select(h => new Host((string)h!["name"]!, (string)h["address"]!, (string)h["password"]!,
            [.. h["devices"]!.AsArray().Select(d => (string)d!)]))];
    }

    /// <summary>The repository this test was built from (the directory holding Cairn.slnx).</summary>
    public static string Repo
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Cairn.slnx"))) return d.FullName;
            throw new InvalidOperationException("Cairn.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Script => Path.Combine(Repo, "deploy", "lab", "lab.sh");
    public static string Playbooks => Path.Combine(Repo, "deploy", "ansible");

    /// <summary>Every tool the lab and the playbooks use; skips outside CI, fails in CI, when one is missing.</summary>
    public static void RequireTools()
    {
        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal)
            && Commands.Run("id", "-u").StdOut.Trim() != "0")
        {
            if (ExternalTool.InCi) Assert.Fail("the installer lab needs root (network namespaces, loop devices, mounts)");
            Assert.Skip("the installer lab needs root (network namespaces, loop devices, mounts)");
        }
        foreach (var (tool, package) in new[]
        {
            ("ip", "iproute2"), ("unshare", "util-linux"), ("losetup", "mount"), ("sshd", "openssh-server"), ("sshpass", "sshpass"),
            ("ansible-playbook", "ansible-core"), ("glusterd", "glusterfs-server"), ("mount.glusterfs", "glusterfs-client"),
            ("keepalived", "keepalived"), ("ganesha.nfsd", "nfs-ganesha"), ("mkfs.xfs", "xfsprogs"), ("nfs-cp", "libnfs-utils"),
            ("nfs-cat", "libnfs-utils"), ("ansible-runner", "python3-ansible-runner"),
        })
            ExternalTool.Require(tool, package);
        // the GlusterFS backend of NFS-Ganesha is a plugin, not a program
        var fsal = Directory.GetDirectories("/usr/lib", "*-linux-gnu").Append("/usr/lib64")
            .Select(d => Path.Combine(d, "ganesha", "libfsalgluster.so")).FirstOrDefault(File.Exists);
        ExternalTool.Require(fsal ?? "/usr/lib/x86_64-linux-gnu/ganesha/libfsalgluster.so", "nfs-ganesha-gluster");
    }

    /// <summary>Makes a lab of <paramref name="hosts"/> hosts, each with the given devices (sparse files on loop devices).</summary>
    public static async Task<InstallerLab> UpAsync(int hosts, string devices, string deviceSize, string stateDir)
    {
        var name = "it" + Guid.NewGuid().ToString("N")[..8];
        var r = await Commands.RunAsync("bash", [Script, "--name", name, "up", "--hosts", hosts.ToString(CultureInfo.InvariantCulture),
            "--devices", devices, "--device-size", deviceSize], TimeSpan.FromMinutes(3), Env(stateDir));
        if (!r.Succeeded)
        {
            await Commands.RunAsync("bash", [Script, "--name", name, "down"], TimeSpan.FromMinutes(2), Env(stateDir));
            Assert.Fail($"lab.sh up failed ({r.Exit()}):\n{r.Output()}");
        }
        return new InstallerLab(name, JsonNode.Parse(r.StdOut)!) { _stateDir = stateDir };
    }

    private string _stateDir = "";

    private static Dictionary<string, string?> Env(string stateDir) => new() { ["CAIRN_LAB_DIR"] = Path.Combine(stateDir, "lab") };

    /// <summary>Runs a command on a lab host.</summary>
    public Task<ProcessResult> ExecAsync(string host, params string[] command) => ExecAsync(host, TimeSpan.FromMinutes(2), command);

    public Task<ProcessResult> ExecAsync(string host, TimeSpan timeout, params string[] command) =>
        Commands.RunAsync("bash", [Script, "--name", Name, "exec", host, .. command], timeout, Env(_stateDir));

    /// <summary>Runs a command in the controller namespace (never in the root namespace: lab addresses are not routed there).</summary>
    public Task<ProcessResult> CtlAsync(TimeSpan timeout, IReadOnlyDictionary<string, string?>? environment, params string[] command)
    {
        var env = Env(_stateDir);
        if (environment is not null) foreach (var (k, v) in environment) env[k] = v;
        return Commands.RunAsync("bash", [Script, "--name", Name, "ctl", .. command], timeout, env);
    }

    public async ValueTask DisposeAsync()
    {
        var r = await Commands.RunAsync("bash", [Script, "--name", Name, "down"], TimeSpan.FromMinutes(2), Env(_stateDir));
        if (!r.Succeeded) Console.WriteLine($"lab.sh down failed ({r.Exit()}): {r.Output()}");
    }

    /// <summary>The PLAY RECAP of an ansible-playbook run: host → (ok, changed, unreachable, failed).</summary>
    public static Dictionary<string, (int Ok, int Changed, int Unreachable, int Failed)> Recap(string output)
    {
        var recap = new Dictionary<string, (int, int, int, int)>(StringComparer.Ordinal);
        foreach (Match m in RecapLine().Matches(output))
        {
            int N(string g) => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
            var host = m.Groups["host"].Value;
            var prev = recap.GetValueOrDefault(host);
            recap[host] = (prev.Item1 + N("ok"), prev.Item2 + N("changed"), prev.Item3 + N("unreachable"), prev.Item4 + N("failed"));
        }
        return recap;
    }

    [GeneratedRegex(@"^(?<host>\S+)\s+:\s+ok=(?<ok>\d+)\s+changed=(?<changed>\d+)\s+unreachable=(?<unreachable>\d+)\s+failed=(?<failed>\d+)", RegexOptions.Multiline)]
    private static partial Regex RecapLine();
}

/// <summary>
/// The shared lab of <see cref="InstallerLabTests"/>: 6 hosts (3 storage with sdc and sdd, 3 access), an inventory and
/// a variables file written by the contract of deploy/ansible/README.md, a generated key, and the deployment run once
/// with plain ansible-playbook, one playbook per step as the installer API runs them. Made on first use (so a missing
/// tool skips or fails the test rather than the fixture), removed with <c>lab.sh down</c> at the end.
/// </summary>
public sealed class InstallerLabFixture : IAsyncLifetime
{
    public static readonly string[] DeploySteps =
        ["step0_precheck.yml", "step1_prepare.yml", "step2_packages.yml", "step3_pool.yml", "step4_bricks.yml", "step5_volume.yml",
         "step6_access.yml", "step7_verify.yml"];

    /// <summary>
    /// The ScaleQingStorStorage steps that matter when the new brick set is on nodes already in the cluster (the test's
    /// case): step1–3 and step6 have nothing to do for them (the re-run test shows they change nothing) and are left out
    /// to keep the class's run short.
    /// </summary>
    public static readonly string[] ScaleStorageSteps = ["step0_precheck.yml", "step4_bricks.yml", "scale_storage.yml", "step7_verify.yml"];

    private readonly SemaphoreSlim _gate = new(1, 1);
    private Task? _deployed;
    private readonly string _dir = TempDir.Create("cairn-installer-lab");

    public InstallerLab Lab { get; private set; } = null!;
    public string Inventory => Path.Combine(_dir, "inventory.ini");
    public string EnvFile => Path.Combine(_dir, "qs_installer_env_config.yml");
    public string ScaleEnvFile => Path.Combine(_dir, "qs_installer_env_config.scale.yml");
    public IReadOnlyList<string> StorageNodes { get; } = ["node_s1", "node_s2", "node_s3"];
    public IReadOnlyList<string> AccessNodes { get; } = ["node_a1", "node_a2", "node_a3"];
    public IReadOnlyList<string> Vips { get; private set; } = [];
    public string BridgeVip { get; private set; } = "";
    /// <summary>The output of each deployment step's run, in order.</summary>
    public IReadOnlyList<string> DeployOutputs => _deployOutputs;
    private readonly List<string> _deployOutputs = [];

    /// <summary>Lab host name (h1…) of a node id.</summary>
    public string HostOf(string node) => StorageNodes.Contains(node)
        ? $"h{StorageNodes.ToList().IndexOf(node) + 1}"
        : $"h{StorageNodes.Count + AccessNodes.ToList().IndexOf(node) + 1}";

    /// <summary>The lab, deployed (the first caller waits for the deployment; a failed deployment fails every caller).</summary>
    public async Task<InstallerLab> DeployedAsync()
    {
        InstallerLab.RequireTools();
        await _gate.WaitAsync();
        try { _deployed ??= DeployAsync(); }
        finally { _gate.Release(); }
        await _deployed;
        return Lab;
    }

    private async Task DeployAsync()
    {
        Lab = await InstallerLab.UpAsync(6, "sdc,sdd", "1G", _dir);
        var key = Path.Combine(_dir, "id_ed25519");
        (await Commands.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cairn-installer-test", "-f", key])).ThrowIfFailed();
        var prefix = Lab.Network[..Lab.Network.LastIndexOf('.')];
        Vips = [.. AccessNodes.Select((_, i) => $"{prefix}.{101 + i}")];
        BridgeVip = $"{prefix}.100";

        var inv = new StringBuilder("[storage]\n");
        foreach (var n in StorageNodes) inv.Append(CultureInfo.InvariantCulture, $"{n} ansible_host={Lab.Hosts.Single(h => h.Name == HostOf(n)).Address} ansible_port=22\n");
        inv.Append("\n[access]\n");
        foreach (var n in AccessNodes) inv.Append(CultureInfo.InvariantCulture, $"{n} ansible_host={Lab.Hosts.Single(h => h.Name == HostOf(n)).Address} ansible_port=22\n");
        inv.Append(CultureInfo.InvariantCulture, $"\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file={key}\n");
        await File.WriteAllTextAsync(Inventory, inv.ToString());

        JsonObject Entry(string block) => new()
        {
            ["cluster_id"] = 0, ["volume"] = "vol0", ["vol_type"] = "replicate", ["ec_type"] = 2, ["replica"] = 3, ["raid"] = false,
            ["storage_class"] = "standard", ["readonly"] = false, ["brick_count"] = 1, ["block"] = block,
            ["nodes"] = new JsonArray([.. StorageNodes.Select(n => (JsonNode)n)]),
        };
        JsonObject EnvDoc(params string[] blocks) => new()
        {
            ["qs_conf"] = new JsonObject
            {
                ["firstbox"] = Lab.ControllerAddress, ["with_iaas"] = false, ["zone_id"] = "test", ["iaas_domain"] = "test.com",
                ["global_domain"] = "stor.test.com", ["qs_network"] = new JsonArray(Lab.Network), ["use_cassandra"] = false,
            },
            ["access_nodes"] = new JsonObject
            {
                ["intranet"] = new JsonObject
                {
                    ["interface"] = Lab.Interface,
                    // node ids as the seed's {node_id} objects here; the layout accepts both forms
                    ["nodes"] = new JsonArray([.. AccessNodes.Select(n => (JsonNode)new JsonObject { ["node_id"] = n })]),
                    ["vips"] = new JsonArray([.. Vips.Select(v => (JsonNode)v)]),
                    ["bridge_vip"] = BridgeVip,
                },
            },
            ["storage_nodes"] = new JsonArray([.. blocks.Select(b => (JsonNode)Entry(b))]),
            ["cairn_ssh_public_key"] = File.ReadAllText(key + ".pub").Trim(),
        };
        // JSON is YAML: the variables file ansible-playbook reads with -e @FILE
        await File.WriteAllTextAsync(EnvFile, EnvDoc("sdc").ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        await File.WriteAllTextAsync(ScaleEnvFile, EnvDoc("sdc", "sdd").ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var password = Path.Combine(_dir, "password");
        await File.WriteAllTextAsync(password, Lab.Hosts[0].Password + "\n");
        File.SetUnixFileMode(password, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        foreach (var step in DeploySteps)
        {
            var r = await PlaybookAsync(EnvFile, step, step is "step0_precheck.yml" or "step1_prepare.yml" ? ["--connection-password-file", password] : []);
            _deployOutputs.Add(r.Output());
            Assert.True(r.Succeeded, $"{step} failed ({r.Exit()}):\n{Tail(r.Output())}");
        }
    }

    /// <summary>Runs one playbook with plain ansible-playbook in the controller namespace.</summary>
    public Task<ProcessResult> PlaybookAsync(string envFile, string playbook, IEnumerable<string>? extra = null, string? inventory = null) =>
        Lab.CtlAsync(TimeSpan.FromMinutes(10), new Dictionary<string, string?>
        {
            ["ANSIBLE_CONFIG"] = Path.Combine(InstallerLab.Playbooks, "ansible.cfg"),
            ["ANSIBLE_LOCAL_TEMP"] = Path.Combine(_dir, "ansible-tmp"),
            ["ANSIBLE_SSH_CONTROL_PATH_DIR"] = Path.Combine(_dir, "cp"),
            ["ANSIBLE_NOCOLOR"] = "1",
            // ansible refuses to start without a UTF-8 locale (the test host may have none set)
            ["LC_ALL"] = "C.UTF-8",
            ["LANG"] = "C.UTF-8",
        }, ["ansible-playbook", "-i", inventory ?? Inventory, "-e", "@" + envFile, .. extra ?? [], Path.Combine(InstallerLab.Playbooks, playbook)]);

    public static string Tail(string s, int lines = 80) => string.Join('\n', s.Split('\n').TakeLast(lines));

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_deployed is not null && Lab is not null) await Lab.DisposeAsync();
        _gate.Dispose();
    }
}
