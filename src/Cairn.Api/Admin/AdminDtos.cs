using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.Storage;

namespace Cairn.Api.Admin;

/// <summary>A volume or folder in admin API answers.</summary>
public sealed record VolumeDto(Guid Id, string Name, string Type, long Size, long Used, long Referenced, string? Origin, string Status, string Project, DateTimeOffset Created)
{
    public static VolumeDto From(VolumeView v) => new(v.Id, v.Dataset.Name, v.Dataset.Kind == DatasetKind.Folder ? "folder" : "volume",
        v.Dataset.Size, v.Dataset.Used, v.Dataset.Referenced, v.Dataset.Origin, v.Status, v.Record?.Project ?? VolumeService.AdminProject, v.Dataset.Created);
}

/// <summary>A snapshot in admin API answers.</summary>
public sealed record SnapshotDto(Guid Id, string Name, string Volume, string Snapshot, long Size, long Used, long Referenced, IReadOnlyList<string> Clones, DateTimeOffset Created)
{
    public static SnapshotDto From(SnapshotInfo s) => new(s.Id, s.FullName, s.Dataset, s.Name, s.Size, s.Used, s.Referenced, s.Clones, s.Created);
}

/// <summary>A pool in admin API answers. Space figures are null while the pool is unavailable (then <c>Error</c> says why).</summary>
public sealed record PoolDto(string Name, string Engine, string Health, long? Size, long? Allocated, long? Free, long? Datasets, long? Snapshots,
    IReadOnlyList<string> Capabilities, DateTimeOffset Created, string? Error)
{
    public static PoolDto From(PoolView p) => new(p.Name, p.Engine, p.Error is null ? "online" : "unavailable",
        p.Space?.Size, p.Space?.Allocated, p.Space?.Free, p.Space?.Datasets, p.Space?.Snapshots,
        [.. Enum.GetValues<EngineCapabilities>().Where(c => c != EngineCapabilities.None && p.Capabilities.HasFlag(c)).Select(c => c.ToString().ToLowerInvariant())],
        p.Record.Created, p.Error);
}

/// <summary>POST /pools body.</summary>
public sealed record CreatePoolRequest(string? Name, string? Engine);

/// <summary>POST /volumes body.</summary>
public sealed record CreateVolumeRequest(string? Name, JsonElement? Size, bool Parents = false);

/// <summary>PATCH /volumes/{name} body.</summary>
public sealed record ResizeRequest(JsonElement? Size);

/// <summary>POST /folders body.</summary>
public sealed record CreateFolderRequest(string? Name, bool Parents = false);

/// <summary>POST /snapshots body.</summary>
public sealed record CreateSnapshotRequest(string? Name);

/// <summary>POST /clones body.</summary>
public sealed record CloneRequest(string? Source, string? Target, bool Parents = false);

internal static class AdminParse
{
    /// <summary>A size given as a number of bytes or a string like "10G".</summary>
    public static long Size(JsonElement? size)
    {
        if (size is not { } e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) throw CairnException.Invalid("'size' is required");
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n)) return n;
        if (e.ValueKind == JsonValueKind.String) return Sizes.Parse(e.GetString());
        throw CairnException.Invalid("'size' must be a number of bytes or a string such as \"10G\"");
    }

    public static string Required(string? value, string field) =>
        string.IsNullOrEmpty(value) ? throw CairnException.Invalid($"'{field}' is required") : value;

    public static JsonObject? Obj(object o) => JsonSerializer.SerializeToNode(o, Json.Options) as JsonObject;
}
