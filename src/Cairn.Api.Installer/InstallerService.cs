using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Cairn.Api.Installer;

/// <summary>
/// The installer's actions over its records in the state store (module <c>installer</c>: kinds <c>node</c>,
/// <c>job</c> and one <c>platform</c>) and its files in <see cref="InstallerOptions.Directory"/>.
/// </summary>
public sealed partial class InstallerService(IStateStore store, InstallerOptions options, ILogger<InstallerService> log) : IDisposable
{
    public void Dispose() => _write.Dispose();

    public const string Module = "installer";
    public const string VariablesFile = "qs_installer_env_config.yml", InventoryFile = "inventory.ini";

    public static readonly IReadOnlyList<string> Actions =
    [
        "DescribeQingStor", "ConfigQingStor", "GetConfigQingStorStatus", "GetConfigQingStorLog", "DeployQingStor",
        "GetDeployQingStorStatus", "GetDeployQingStorLog", "ScaleQingStorAccess", "ScaleQingStorStorage",
        "AddNodes", "DescribeNodes", "DeleteNodes",
    ];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    private static partial Regex NodeIdPattern();

    private readonly SemaphoreSlim _write = new(1, 1);

    public Task<JsonObject> DispatchAsync(string action, JsonObject r, CancellationToken ct) => action switch
    {
        "DescribeQingStor" => Task.FromResult(Describe()),
        "ConfigQingStor" => ConfigAsync(r, ct),
        "GetConfigQingStorStatus" => Task.FromResult(JobStatus("config", r)),
        "GetConfigQingStorLog" => Task.FromResult(JobLog("config", r)),
        "GetDeployQingStorStatus" => Task.FromResult(JobStatus("deploy", r)),
        "GetDeployQingStorLog" => Task.FromResult(JobLog("deploy", r)),
        "AddNodes" => AddNodesAsync(r, ct),
        "DescribeNodes" => Task.FromResult(DescribeNodes(r)),
        "DeleteNodes" => DeleteNodesAsync(r, ct),
        "DeployQingStor" when Platform() is not { } p || (string?)p["status"] is not ("configured" or "deployed" or "running" or "failed") =>
            throw new InstallerException(RetCodes.Conflict, 409, "DeployQingStor needs a successful ConfigQingStor first"),
        _ => throw new InstallerException(RetCodes.NotImplemented, 501,
            $"{action} is not implemented by this server yet (ConfigQingStor validates and writes the files; run deploy/ansible's playbooks by hand meanwhile)"),
    };

    private JsonObject? Platform() => store.GetDocument(Module, "platform", "qingstor")?.Body;

    private JsonObject Describe()
    {
        var p = Platform();
        var nodes = store.ListDocuments(Module, "node");
        return new JsonObject
        {
            ["qingstor"] = new JsonObject
            {
                ["console_id"] = "cairn",
                ["create_time"] = p?["create_time"]?.DeepClone() ?? "",
                ["domain"] = p?["domain"]?.DeepClone() ?? "",
                ["hosts"] = new JsonArray([.. nodes.Select(n => (JsonNode?)NodeView(n.Body))]),
                ["installer_version"] = "cairn-1",
                ["is_activated"] = 0,
                ["is_deployed"] = (string?)p?["status"] is "running" or "deployed" ? 1 : 0,
                ["platform_info"] = new JsonObject(),
                ["platform_name"] = "qingstor",
                ["pre_status"] = p?["pre_status"]?.DeepClone() ?? "",
                ["qingstor_version"] = "",
                ["status"] = p?["status"]?.DeepClone() ?? "new",
                ["update_time"] = p?["update_time"]?.DeepClone() ?? "",
            },
        };
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>The known nodes, with their facts when collected (AddNodes).</summary>
    public IReadOnlyDictionary<string, KnownNode> Inventory() =>
        store.ListDocuments(Module, "node").ToDictionary(d => d.Key, d => new KnownNode(d.Key, FactsOf(d.Body["facts"] as JsonObject)), StringComparer.Ordinal);

    /// <summary>Facts as stored: <c>{"interfaces": [...], "block_devices": [{name, fstype, label, mountpoint, children}]}</c>.</summary>
    public static NodeFacts? FactsOf(JsonObject? f)
    {
        if (f is null) return null;
        var ifaces = (f["interfaces"] as JsonArray ?? []).Select(Field.Str).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var devs = new Dictionary<string, DeviceFact>(StringComparer.Ordinal);
        foreach (var d in (f["block_devices"] as JsonArray ?? []).OfType<JsonObject>())
            if (Field.Str(d["name"]) is { } name)
                devs[name] = new DeviceFact(name, Field.Str(d["fstype"]), Field.Str(d["label"]), Field.Str(d["mountpoint"]), Field.Bool(d["children"]) ?? false);
        return new NodeFacts(ifaces, devs);
    }

    private async Task<JsonObject> ConfigAsync(JsonObject r, CancellationToken ct)
    {
        var (layout, problems) = LayoutValidator.Validate(r, Inventory());
        if (layout is null)
            throw InstallerException.Invalid($"ConfigQingStor: {problems.Count} problem(s), nothing was changed: " + string.Join("; ", problems));
        var jobId = JobIds.New();
        await _write.WaitAsync(ct);
        try
        {
            Directory.CreateDirectory(options.Directory);
            var variables = layout.Variables;
            // The variables file is written as JSON, which is YAML 1.2 (Ansible's -e @file reads it as such).
            var varsPath = Path.Combine(options.Directory, VariablesFile);
            WritePrivate(varsPath, "# Written by Cairn's installer API (ConfigQingStor " + jobId + "); JSON is valid YAML.\n" +
                variables.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            WritePrivate(Path.Combine(options.Directory, InventoryFile), InventoryText(layout, store.ListDocuments(Module, "node"), options.Directory));
            var now = DateTimeOffset.UtcNow;
            var prev = Platform();
            var platform = new JsonObject
            {
                ["status"] = "configured",
                ["pre_status"] = prev?["status"]?.DeepClone() ?? "new",
                ["create_time"] = prev?["create_time"]?.DeepClone() ?? Time(now),
                ["update_time"] = Time(now),
                ["domain"] = variables["qs_conf"]?["global_domain"]?.DeepClone() ?? "",
                ["config_job"] = jobId,
            };
            var job = new JsonObject
            {
                ["job_id"] = jobId, ["kind"] = "config", ["status"] = "successful", ["pre_status"] = "step0",
                ["created"] = Time(now),
                ["log"] = new JsonObject
                {
                    ["step0"] = new JsonObject
                    {
                        ["name"] = "validate and write the variables file and the inventory",
                        ["status"] = "ok",
                        ["files"] = new JsonArray(varsPath, Path.Combine(options.Directory, InventoryFile)),
                        ["access_nodes"] = new JsonArray([.. layout.AccessNodes.Select(x => (JsonNode?)x)]),
                        ["storage_nodes"] = new JsonArray([.. layout.StorageNodes.Select(x => (JsonNode?)x)]),
                    },
                },
            };
            await store.WriteAsync(w =>
            {
                w.Put(new DocumentRecord(Module, "platform", "qingstor", null, platform, now));
                w.Put(new DocumentRecord(Module, "job", jobId, null, job, now));
            }, ct);
            InstallerLog.Configured(log, jobId, varsPath);
        }
        finally { _write.Release(); }
        return new JsonObject { ["job_id"] = jobId };
    }

    /// <summary>The lab contract's INI inventory: groups storage and access, host vars, the generated key.</summary>
    public static string InventoryText(ValidLayout layout, IReadOnlyList<DocumentRecord> nodes, string directory)
    {
        var byId = nodes.ToDictionary(n => n.Key, n => n.Body, StringComparer.Ordinal);
        string Line(string id)
        {
            var b = byId.GetValueOrDefault(id);
            var sb = new StringBuilder(id);
            sb.Append(" ansible_host=").Append(Field.Str(b?["address"]) ?? id);
            if (Field.Number(b?["ssh_port"]) is { } port and not 22) sb.Append(" ansible_port=").Append(port);
            return sb.ToString();
        }
        var text = new StringBuilder("# Written by Cairn's installer API (ConfigQingStor).\n[storage]\n");
        foreach (var id in layout.StorageNodes) text.Append(Line(id)).Append('\n');
        text.Append("\n[access]\n");
        foreach (var id in layout.AccessNodes) text.Append(Line(id)).Append('\n');
        text.Append("\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file=").Append(Path.Combine(Path.GetFullPath(directory), "id_ed25519")).Append('\n');
        return text.ToString();
    }

    /// <summary>Writes <paramref name="path"/> readable by the server's user only (0600), through a temporary file and a rename.</summary>
    public static void WritePrivate(string path, string text)
    {
        var tmp = path + ".tmp";
        var o = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) o.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var f = new FileStream(tmp, o))
        {
            f.Write(Encoding.UTF8.GetBytes(text));
            f.Flush(true);
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, path, true);
    }

    private JsonObject? FindJob(string kind, JsonObject r)
    {
        if (Field.Str(r["job_id"]) is { Length: > 0 } id)
        {
            var d = store.GetDocument(Module, "job", id);
            if (d is null || (string?)d.Body["kind"] != kind)
                throw new InstallerException(RetCodes.NotFound, 404, $"job_id {id}: no {kind} job with that id (omit job_id for the latest)");
            return d.Body;
        }
        return store.ListDocuments(Module, "job").Where(d => (string?)d.Body["kind"] == kind).OrderByDescending(d => d.Updated).FirstOrDefault()?.Body
            ?? throw new InstallerException(RetCodes.NotFound, 404, $"there is no {kind} job yet");
    }

    private JsonObject JobStatus(string kind, JsonObject r)
    {
        var j = FindJob(kind, r)!;
        return new JsonObject { ["job_id"] = j["job_id"]?.DeepClone(), ["status"] = j["status"]?.DeepClone(), ["pre_status"] = j["pre_status"]?.DeepClone() };
    }

    private JsonObject JobLog(string kind, JsonObject r)
    {
        var j = FindJob(kind, r)!;
        var all = j["log"] as JsonObject ?? [];
        if (Field.Str(r["job_status"]) is { Length: > 0 } step)
        {
            if (!Regex.IsMatch(step, "^step[0-9]$")) throw InstallerException.Invalid($"job_status: '{step}' is not step0 … step9");
            return new JsonObject { ["job_id"] = j["job_id"]?.DeepClone(), ["log"] = new JsonObject { [step] = all[step]?.DeepClone() ?? new JsonObject() } };
        }
        return new JsonObject { ["job_id"] = j["job_id"]?.DeepClone(), ["log"] = all.DeepClone() };
    }

    private static JsonObject NodeView(JsonObject body)
    {
        var v = new JsonObject();
        foreach (var (k, n) in body) if (k != "facts") v[k] = n?.DeepClone();
        v["has_facts"] = body["facts"] is JsonObject;
        return v;
    }

    private async Task<JsonObject> AddNodesAsync(JsonObject r, CancellationToken ct)
    {
        var list = r["nodes"] as JsonArray;
        var p = new List<string>();
        if (list is null || list.Count == 0) p.Add("nodes: required, a list of {node_id, name, address, ssh_port}");
        var existing = Inventory();
        var add = new List<JsonObject>();
        for (var i = 0; list is not null && i < list.Count; i++)
        {
            var f = $"nodes[{i}]";
            if (list[i] is not JsonObject n) { p.Add($"{f}: must be an object {{node_id, name, address, ssh_port}}"); continue; }
            var id = Field.Str(n["node_id"]);
            if (id is null || !NodeIdPattern().IsMatch(id)) p.Add($"{f}.node_id: '{id}' is not a node id (letters, digits, '_' and '-', at most 63)");
            else if (existing.ContainsKey(id)) p.Add($"{f}.node_id: node '{id}' already exists (DeleteNodes it first to change it)");
            else if (add.Any(a => (string?)a["node_id"] == id)) p.Add($"{f}.node_id: '{id}' is listed twice");
            var address = Field.Str(n["address"]);
            if (address is null || !IPAddress.TryParse(address, out _)) p.Add($"{f}.address: '{address}' is not an IP address");
            var port = n["ssh_port"] is null ? 22 : Field.Number(n["ssh_port"]);
            if (port is null or < 1 or > 65535) p.Add($"{f}.ssh_port: a port 1-65535 (default 22)");
            add.Add(new JsonObject
            {
                ["node_id"] = id, ["name"] = Field.Str(n["name"]) ?? id, ["address"] = address, ["ssh_port"] = port ?? 22,
                ["status"] = "added", ["key_installed"] = false,
            });
        }
        if (p.Count > 0) throw InstallerException.Invalid($"AddNodes: {p.Count} problem(s), nothing was changed: " + string.Join("; ", p));
        var now = DateTimeOffset.UtcNow;
        foreach (var a in add) a["create_time"] = Time(now);
        await store.WriteAsync(w => { foreach (var a in add) w.Put(new DocumentRecord(Module, "node", (string)a["node_id"]!, null, a, now)); }, ct);
        return new JsonObject { ["node_ids"] = new JsonArray([.. add.Select(a => a["node_id"]!.DeepClone())]) };
    }

    private JsonObject DescribeNodes(JsonObject r)
    {
        var want = (Field.List(r["node_ids"]) ?? []).Select(Field.NodeId).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var nodes = store.ListDocuments(Module, "node").Where(d => want.Count == 0 || want.Contains(d.Key)).OrderBy(d => d.Key, StringComparer.Ordinal).ToList();
        var missing = want.Where(w => nodes.All(n => n.Key != w)).ToList();
        if (missing.Count > 0) throw new InstallerException(RetCodes.NotFound, 404, $"node_ids: no node {string.Join(", ", missing)}");
        return new JsonObject { ["node_set"] = new JsonArray([.. nodes.Select(n => (JsonNode?)NodeView(n.Body))]), ["total_count"] = nodes.Count };
    }

    private async Task<JsonObject> DeleteNodesAsync(JsonObject r, CancellationToken ct)
    {
        var ids = (Field.List(r["node_ids"]) ?? []).Select(Field.NodeId).OfType<string>().Distinct().ToList();
        if (ids.Count == 0) throw InstallerException.Invalid("node_ids: required, the node ids to delete");
        var missing = ids.Where(i => store.GetDocument(Module, "node", i) is null).ToList();
        if (missing.Count > 0) throw new InstallerException(RetCodes.NotFound, 404, $"node_ids: no node {string.Join(", ", missing)}; nothing was deleted");
        await store.WriteAsync(w => { foreach (var i in ids) w.DeleteDocument(Module, "node", i); }, ct);
        return new JsonObject { ["node_ids"] = new JsonArray([.. ids.Select(i => (JsonNode?)i)]) };
    }
}
