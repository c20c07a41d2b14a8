using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cairn.Contracts;

/// <summary>
/// Source-generated JSON for every contract, in the admin API's conventions: web defaults, snake_case names, nulls
/// written. The server puts it first in its resolver chain; the CLI reads and writes only through it (no reflection,
/// which a short CLI run would pay for at start-up).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(LunError))]
[JsonSerializable(typeof(PoolDto))]
[JsonSerializable(typeof(PoolDto[]))]
[JsonSerializable(typeof(VolumeDto))]
[JsonSerializable(typeof(VolumeDto[]))]
[JsonSerializable(typeof(SnapshotDto))]
[JsonSerializable(typeof(SnapshotDto[]))]
[JsonSerializable(typeof(CreatePoolRequest))]
[JsonSerializable(typeof(CreateVolumeRequest))]
[JsonSerializable(typeof(ResizeRequest))]
[JsonSerializable(typeof(CreateFolderRequest))]
[JsonSerializable(typeof(CreateSnapshotRequest))]
[JsonSerializable(typeof(CloneRequest))]
[JsonSerializable(typeof(ImportAnswer))]
[JsonSerializable(typeof(LocalFileImport))]
[JsonSerializable(typeof(BatchRequest))]
[JsonSerializable(typeof(BatchAccepted))]
[JsonSerializable(typeof(CreateTargetRequest))]
[JsonSerializable(typeof(InitiatorRequest))]
[JsonSerializable(typeof(TargetDto))]
[JsonSerializable(typeof(TargetDto[]))]
[JsonSerializable(typeof(AddLunRequest))]
[JsonSerializable(typeof(SessionDto[]))]
[JsonSerializable(typeof(SessionsEnded))]
[JsonSerializable(typeof(JobSummary))]
[JsonSerializable(typeof(JobSummary[]))]
[JsonSerializable(typeof(JobDetail))]
[JsonSerializable(typeof(JobLogDto[]))]
[JsonSerializable(typeof(LunCloneRequest))]
[JsonSerializable(typeof(LunUncloneRequest))]
[JsonSerializable(typeof(LunRepeatRequest))]
[JsonSerializable(typeof(LunJobAccepted))]
[JsonSerializable(typeof(LunTestAnswer))]
[JsonSerializable(typeof(LunStatusAnswer))]
[JsonSerializable(typeof(CreateProjectRequest))]
[JsonSerializable(typeof(ProjectDto))]
[JsonSerializable(typeof(ProjectDto[]))]
[JsonSerializable(typeof(CreateUserRequest))]
[JsonSerializable(typeof(SetPasswordRequest))]
[JsonSerializable(typeof(RoleAssignmentRequest))]
[JsonSerializable(typeof(UserDto))]
[JsonSerializable(typeof(UserDto[]))]
[JsonSerializable(typeof(long))]
public sealed partial class CairnJsonContext : JsonSerializerContext;
