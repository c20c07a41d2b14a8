using System.ComponentModel;
using System.Text.Json;

namespace Cairn.Contracts;

/// <summary>
/// A pool. Space figures are null while the pool is unavailable (then <c>Error</c> says why). <c>Volumes</c> and
/// <c>Folders</c> count the rows of <c>GET /volumes?root=POOL</c> by type (the pool's own folder row included);
/// <c>Datasets</c> counts what is in the pool (its own row not counted); <c>Snapshots</c> the rows of <c>GET /snapshots</c> in it.
/// </summary>
public sealed record PoolDto(string Name, string Engine, string Health, long? Size, long? Allocated, long? Free, long? Datasets, long? Snapshots,
    IReadOnlyList<string> Capabilities, DateTimeOffset Created, string? Error, long? Volumes = null, long? Folders = null);

/// <summary>A volume or folder (<c>type</c> is <c>volume</c> or <c>folder</c>).</summary>
public sealed record VolumeDto(Guid Id, string Name, string Type, long Size, long Used, long Referenced, string? Origin, string Status, string Project, DateTimeOffset Created);

/// <summary>A snapshot: <c>name</c> is <c>volume@snapshot</c>.</summary>
public sealed record SnapshotDto(Guid Id, string Name, string Volume, string Snapshot, long Size, long Used, long Referenced, IReadOnlyList<string> Clones, DateTimeOffset Created);

/// <summary>POST /pools body.</summary>
public sealed record CreatePoolRequest(string? Name, [property: Description("embedded (default) or zfs")] string? Engine = null);

/// <summary>POST /volumes body.</summary>
public sealed record CreateVolumeRequest(string? Name, [property: SizeField] JsonElement? Size, bool Parents = false);

/// <summary>PATCH /volumes/{name} body.</summary>
public sealed record ResizeRequest([property: SizeField] JsonElement? Size);

/// <summary>POST /folders body.</summary>
public sealed record CreateFolderRequest(string? Name, bool Parents = false);

/// <summary>POST /snapshots body: <c>name</c> is <c>volume@snapshot</c>.</summary>
public sealed record CreateSnapshotRequest(string? Name);

/// <summary>POST /clones body: <c>source</c> is a snapshot, <c>target</c> the new volume.</summary>
public sealed record CloneRequest(string? Source, string? Target, bool Parents = false);

/// <summary>POST /volumes/rename body: a volume or folder gets <c>new_name</c> in the same pool (<c>parents</c>: create missing folders).</summary>
public sealed record RenameRequest(string? Name, string? NewName, bool Parents = false);

/// <summary>POST /snapshots/rename body: <c>name</c> is <c>volume@snapshot</c>; <c>new_name</c> the new part after '@' (or <c>volume@new</c>, same volume).</summary>
public sealed record RenameSnapshotRequest(string? Name, string? NewName);

/// <summary>POST /volumes/rollback body: <c>snapshot</c> is <c>volume@snapshot</c>; <c>destroy_later</c> (zfs rollback -r) destroys the snapshots taken after it.</summary>
public sealed record RollbackRequest(string? Snapshot, bool DestroyLater = false);

/// <summary>The answer to a rollback: the volume, and the later snapshots it destroyed (full names).</summary>
public sealed record RollbackAnswer(VolumeDto Volume, IReadOnlyList<string> DestroyedSnapshots);

/// <summary>POST /volumes/promote body: the clone to make independent of its origin.</summary>
public sealed record PromoteRequest(string? Name);

/// <summary>
/// An import body of type <c>application/vnd.cairn.local-file+json</c>: the server reads the file itself (only on its
/// Unix socket, from its own user or root).
/// </summary>
public sealed record LocalFileImport(string Path);

/// <summary>The answer to an import (PUT /volume-data/{name}): 201 when it created the volume.</summary>
public sealed record ImportAnswer(VolumeDto Volume, long ImageSize, long Written, bool Created, bool Synced);

/// <summary>POST /batch body.</summary>
public sealed record BatchRequest(IReadOnlyList<BatchOp> Ops);

/// <summary>
/// One operation of a batch. <c>op</c> is <c>create</c> (name, size, parents), <c>clone</c> (source, target, parents),
/// <c>snapshot</c> (name), <c>destroy</c> (name, recursive) or <c>destroy_snapshot</c> (name); other fields are refused.
/// </summary>
public sealed record BatchOp(
    string Op,
    string? Name = null,
    [property: SizeField] JsonElement? Size = null,
    string? Source = null,
    string? Target = null,
    [property: FlagField] JsonElement? Parents = null,
    [property: FlagField] JsonElement? Recursive = null);

/// <summary>The answer to POST /batch (202): the job to follow at <c>/jobs/{id}</c>.</summary>
public sealed record BatchAccepted(Guid Id, string State, int Items);

/// <summary>A size field: a number of bytes, or a string with a binary unit (<c>"10G"</c> = 10 GiB).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SizeFieldAttribute : Attribute;

/// <summary>A boolean that old clients send in several forms: <c>true</c>/<c>false</c>, <c>1</c>/<c>0</c>, or those as strings.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FlagFieldAttribute : Attribute;

/// <summary>Builders for the loosely typed fields.</summary>
public static class Fields
{
    /// <summary>A size in bytes as a <see cref="SizeFieldAttribute"/> field holds it.</summary>
    public static JsonElement Size(long bytes) => JsonSerializer.SerializeToElement(bytes, CairnJsonContext.Default.Int64);
}
