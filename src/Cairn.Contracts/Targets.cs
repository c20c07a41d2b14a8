namespace Cairn.Contracts;

/// <summary>A LUN in requests: <c>volume</c> is <c>pool/v</c> or <c>pool/v@snap</c> (read-only); <c>read_only</c> maps a volume read-only.</summary>
public sealed record TargetLunRequest(int? Lun = null, string? Volume = null, bool? ReadOnly = null);

/// <summary>POST /targets body: <c>volume</c> (with <c>lun</c>, default 0) or <c>luns</c>. Secrets are write-only: never returned, never logged.</summary>
public sealed record CreateTargetRequest(
    string? Iqn,
    IReadOnlyList<TargetLunRequest>? Luns = null,
    string? Volume = null,
    int? Lun = null,
    IReadOnlyList<string>? Initiators = null,
    string? ChapUser = null,
    string? ChapSecret = null,
    string? MutualUser = null,
    string? MutualSecret = null,
    string? Portal = null,
    bool? Shared = null);

/// <summary>POST /targets/{iqn}/luns body: <c>volume</c> (or <c>NAME@SNAP</c>), <c>lun</c> (default: the lowest free), <c>shared</c>, <c>read_only</c>.</summary>
public sealed record AddLunRequest(string? Volume, int? Lun = null, bool? Shared = null, bool? ReadOnly = null);

/// <summary>A live session of a target.</summary>
public sealed record SessionDto(string Target, string Initiator, string? Address);

/// <summary>DELETE /targets/{iqn}/sessions answer: how many sessions were asked to end.</summary>
public sealed record SessionsEnded(string Target, int Ended);

/// <summary>POST /targets/{iqn}/initiators body.</summary>
public sealed record InitiatorRequest(string? Initiator);

/// <summary>A target (no secrets).</summary>
public sealed record TargetDto(string Iqn, IReadOnlyList<TargetLunDto> Luns, IReadOnlyList<string> Initiators, string? ChapUser, string? MutualUser, string? Portal, DateTimeOffset Created, int Sessions);

/// <summary>A LUN of a target: <c>volume</c> is <c>NAME@SNAP</c> for a read-only snapshot LUN.</summary>
public sealed record TargetLunDto(int Lun, string Volume, bool ReadOnly);
