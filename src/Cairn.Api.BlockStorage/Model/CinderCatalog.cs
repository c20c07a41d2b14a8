using System.Globalization;
using Cairn.Api.BlockStorage.Http;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>A volume type (module document <c>volume_type</c>, key = id), with its access list and encryption spec.</summary>
public sealed record VolumeType(string Id, string Name, string? Description, bool IsPublic, IReadOnlyDictionary<string, string> ExtraSpecs)
{
    /// <summary>Projects given access to a private type (Cinder's <c>volume_type_projects</c>), in the order added.</summary>
    public IReadOnlyList<string> Projects { get; init; } = [];

    /// <summary>The type's encryption spec (Cinder's <c>encryption</c> table), if it has one.</summary>
    public EncryptionSpec? Encryption { get; init; }

    /// <summary>Cinder's multiattach extra spec: <c>multiattach="&lt;is&gt; True"</c>.</summary>
    public bool Multiattach => ExtraSpecs.TryGetValue("multiattach", out var v) && v.Trim().Equals("<is> True", StringComparison.OrdinalIgnoreCase);

    /// <summary>Cinder's type query for a context: admins see every type, others public ones and those their project has access to.</summary>
    public bool VisibleTo(bool admin, string project) => admin || IsPublic || Projects.Contains(project, StringComparer.Ordinal);

    public JsonObject ToBody()
    {
        var specs = new JsonObject();
        foreach (var (k, v) in ExtraSpecs) specs[k] = v;
        var o = new JsonObject { ["id"] = Id, ["name"] = Name, ["description"] = Description, ["is_public"] = IsPublic, ["extra_specs"] = specs };
        if (Projects.Count > 0) o["projects"] = new JsonArray([.. Projects.Select(p => (JsonNode?)p)]);
        if (Encryption is { } e) o["encryption"] = e.ToBody();
        return o;
    }

    public static VolumeType FromBody(JsonObject b) => new(
        VolumeAttrs.Str(b, "id")!, VolumeAttrs.Str(b, "name")!, VolumeAttrs.Str(b, "description"), VolumeAttrs.Flag(b, "is_public"),
        (b["extra_specs"] as JsonObject ?? []).ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "", StringComparer.Ordinal))
    {
        Projects = b["projects"] is JsonArray a ? [.. a.Select(n => n!.GetValue<string>())] : [],
        Encryption = b["encryption"] is JsonObject e ? EncryptionSpec.FromBody(e) : null,
    };
}

/// <summary>
/// A volume type's encryption spec, as Cinder's <c>encryption</c> table: who encrypts (<c>front-end</c>: the
/// compute host, through os-brick; <c>back-end</c>: the storage) with which provider, cipher and key size.
/// </summary>
public sealed record EncryptionSpec(string EncryptionId, string Provider, string? Cipher, int? KeySize, string ControlLocation, DateTimeOffset Created, DateTimeOffset? Updated)
{
    public const string FrontEnd = "front-end";
    public const string BackEnd = "back-end";

    public JsonObject ToBody() => new()
    {
        ["encryption_id"] = EncryptionId, ["provider"] = Provider, ["cipher"] = Cipher, ["key_size"] = KeySize, ["control_location"] = ControlLocation,
        ["created_at"] = Created.ToUnixTimeMilliseconds(), ["updated_at"] = Updated?.ToUnixTimeMilliseconds(),
    };

    public static EncryptionSpec FromBody(JsonObject b) => new(
        VolumeAttrs.Str(b, "encryption_id")!, VolumeAttrs.Str(b, "provider") ?? "", VolumeAttrs.Str(b, "cipher"),
        b["key_size"] is JsonValue k && k.TryGetValue<int>(out var size) ? size : null, VolumeAttrs.Str(b, "control_location") ?? FrontEnd,
        DateTimeOffset.FromUnixTimeMilliseconds(b["created_at"]!.GetValue<long>()),
        b["updated_at"] is JsonValue u && u.TryGetValue<long>(out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null);
}

/// <summary>The quota resources Cairn enforces, with Cinder's defaults (10 volumes, 10 snapshots, 1000 GiB).</summary>
public static class QuotaResources
{
    public const string Volumes = "volumes";
    public const string Snapshots = "snapshots";
    public const string Gigabytes = "gigabytes";

    /// <summary>Resources Cinder reports that Cairn accepts and shows but has nothing to count for (backups, groups).</summary>
    public static readonly string[] Reported = ["volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "groups", "per_volume_gigabytes"];

    public static readonly IReadOnlyDictionary<string, int> Defaults = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["volumes"] = 10, ["snapshots"] = 10, ["gigabytes"] = 1000, ["backups"] = 10, ["backup_gigabytes"] = 1000, ["groups"] = 10, ["per_volume_gigabytes"] = -1,
    };
}

/// <summary>
/// Volume types, the default type and quotas: the module's documents in the state store. Types are few and read on
/// every create, so they are cached and the cache is replaced on every change (one writer: this class).
/// </summary>
public sealed class CinderCatalog(IStateStore store) : IDisposable
{
    public const string DefaultTypeName = "__DEFAULT__";
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _write = new(1, 1);
    private IReadOnlyList<VolumeType>? _types;

    public IReadOnlyList<VolumeType> Types()
    {
        lock (_gate)
            return _types ??= [.. store.ListDocuments(Cinder.Module, Cinder.KindType).Select(d => VolumeType.FromBody(d.Body))];
    }

    public void Dispose() => _write.Dispose();

    private void Invalidate()
    {
        lock (_gate) _types = null;
    }

    /// <summary>Makes Cinder's <c>__DEFAULT__</c> type at first start (and the default-type pointer to it).</summary>
    public async Task EnsureDefaultAsync(CancellationToken ct)
    {
        if (store.GetDocument(Cinder.Module, Cinder.KindDefaultType, "default") is not null) return;
        var existing = Types().FirstOrDefault(t => t.Name == DefaultTypeName);
        var t = existing ?? new VolumeType(Guid.NewGuid().ToString("D"), DefaultTypeName, "Default Volume Type", true, new Dictionary<string, string>());
        await store.WriteAsync(w =>
        {
            if (existing is null) w.Put(Doc(t));
            w.Put(new DocumentRecord(Cinder.Module, Cinder.KindDefaultType, "default", null, new JsonObject { ["id"] = t.Id }, DateTimeOffset.UtcNow));
        }, ct);
        Invalidate();
    }

    private static DocumentRecord Doc(VolumeType t) => new(Cinder.Module, Cinder.KindType, t.Id, null, t.ToBody(), DateTimeOffset.UtcNow);

    public VolumeType? Get(string id) => Types().FirstOrDefault(t => t.Id == id);

    /// <summary>By id or by name, as Cinder's create resolves <c>volume_type</c>.</summary>
    public VolumeType? Find(string idOrName) => Types().FirstOrDefault(t => t.Id == idOrName) ?? Types().FirstOrDefault(t => t.Name == idOrName);

    public VolumeType Default()
    {
        var id = store.GetDocument(Cinder.Module, Cinder.KindDefaultType, "default") is { } d ? VolumeAttrs.Str(d.Body, "id") : null;
        return (id is null ? null : Get(id)) ?? Types().FirstOrDefault(t => t.Name == DefaultTypeName)
            ?? throw new CinderError(500, "no default volume type is configured");
    }

    public async Task<VolumeType> CreateAsync(string name, string? description, bool isPublic, IReadOnlyDictionary<string, string> specs, CancellationToken ct)
    {
        if (Types().Any(t => t.Name == name)) throw new CinderError(409, $"Volume Type {name} already exists.");
        var t = new VolumeType(Guid.NewGuid().ToString("D"), name, description, isPublic, specs);
        await store.WriteAsync(w => w.Put(Doc(t)), ct);
        Invalidate();
        return t;
    }

    /// <summary>Name, description, visibility and extra specs of <paramref name="t"/>; its access list and encryption stay as stored.</summary>
    public async Task<VolumeType> UpdateAsync(VolumeType t, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            if (Types().Any(o => o.Name == t.Name && o.Id != t.Id)) throw new CinderError(409, $"Volume Type {t.Name} already exists.");
            var current = Get(t.Id) ?? throw CinderError.NotFound($"Volume type {t.Id} could not be found.");
            var updated = t with { Projects = current.Projects, Encryption = current.Encryption };
            await store.WriteAsync(w => w.Put(Doc(updated)), ct);
            Invalidate();
            return updated;
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task DeleteAsync(VolumeType t, bool inUse, CancellationToken ct)
    {
        if (t.Id == Default().Id) throw CinderError.BadRequest($"Default volume type {t.Id} can not be deleted.");
        if (inUse) throw CinderError.BadRequest($"Target volume type is still in use. Volume Type {t.Id} deletion is not allowed with volumes present with the type.");
        await store.WriteAsync(w => w.DeleteDocument(Cinder.Module, Cinder.KindType, t.Id), ct);
        Invalidate();
    }

    /// <summary>Gives <paramref name="project"/> access to a private type (Cinder's <c>addProjectAccess</c>).</summary>
    public Task AddAccessAsync(string typeId, string project, CancellationToken ct) => ChangeAsync(typeId, t =>
    {
        RequirePrivate(t);
        if (t.Projects.Contains(project, StringComparer.Ordinal))
            throw new CinderError(409, $"Volume type access for {t.Id} / {project} combination already exists.");
        return t with { Projects = [.. t.Projects, project] };
    }, ct);

    /// <summary>Takes that access away again (Cinder's <c>removeProjectAccess</c>).</summary>
    public Task RemoveAccessAsync(string typeId, string project, CancellationToken ct) => ChangeAsync(typeId, t =>
    {
        RequirePrivate(t);
        if (!t.Projects.Contains(project, StringComparer.Ordinal))
            throw CinderError.NotFound($"Volume type access not found for {t.Id} / {project} combination.");
        return t with { Projects = [.. t.Projects.Where(p => p != project)] };
    }, ct);

    private static void RequirePrivate(VolumeType t)
    {
        if (t.IsPublic) throw CinderError.BadRequest("Invalid volume type: Type access modification is not applicable to public volume type.");
    }

    /// <summary>Sets or replaces a type's encryption spec (or removes it, with null): the caller has checked the rules.</summary>
    public Task SetEncryptionAsync(string typeId, Func<VolumeType, EncryptionSpec?> change, CancellationToken ct) =>
        ChangeAsync(typeId, t => t with { Encryption = change(t) }, ct);

    // A read-modify-write of one type document, one at a time (two grants racing must not lose one).
    private async Task ChangeAsync(string typeId, Func<VolumeType, VolumeType> change, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            var t = Get(typeId) ?? throw CinderError.NotFound($"Volume type {typeId} could not be found.");
            var updated = change(t);
            await store.WriteAsync(w => w.Put(Doc(updated)), ct);
            Invalidate();
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>The default limits (Cinder's quota class <c>default</c>), as set through <c>os-quota-class-sets</c> or the built-in ones.</summary>
    public IReadOnlyDictionary<string, int> QuotaDefaults()
    {
        var d = new Dictionary<string, int>(QuotaResources.Defaults, StringComparer.Ordinal);
        if (store.GetDocument(Cinder.Module, Cinder.KindQuotaDefaults, "default") is { } doc)
            foreach (var (k, v) in doc.Body) if (v is JsonValue n && n.TryGetValue<int>(out var i)) d[k] = i;
        return d;
    }

    /// <summary>A project's limits: its own where set, else the defaults.</summary>
    public IReadOnlyDictionary<string, int> Quota(string project)
    {
        var d = new Dictionary<string, int>(QuotaDefaults(), StringComparer.Ordinal);
        if (store.GetDocument(Cinder.Module, Cinder.KindQuota, project) is { } doc)
            foreach (var (k, v) in doc.Body) if (v is JsonValue n && n.TryGetValue<int>(out var i)) d[k] = i;
        return d;
    }

    public Task SetQuotaAsync(string project, IReadOnlyDictionary<string, int> values, CancellationToken ct) =>
        SetAsync(Cinder.KindQuota, project, project, values, ct);

    public Task SetQuotaDefaultsAsync(IReadOnlyDictionary<string, int> values, CancellationToken ct) =>
        SetAsync(Cinder.KindQuotaDefaults, "default", null, values, ct);

    public Task ResetQuotaAsync(string project, CancellationToken ct) =>
        store.WriteAsync(w => w.DeleteDocument(Cinder.Module, Cinder.KindQuota, project), ct);

    private async Task SetAsync(string kind, string key, string? project, IReadOnlyDictionary<string, int> values, CancellationToken ct)
    {
        var body = store.GetDocument(Cinder.Module, kind, key)?.Body.DeepClone() as JsonObject ?? [];
        foreach (var (k, v) in values) body[k] = v;
        await store.WriteAsync(w => w.Put(new DocumentRecord(Cinder.Module, kind, key, project, body, DateTimeOffset.UtcNow)), ct);
    }

    public static string Limit(int v) => v.ToString(CultureInfo.InvariantCulture);
}
