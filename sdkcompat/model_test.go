package sdkcompat_test

// This file mirrors, by hand, what Kiota generates for remoteAssistanceSettings in
// msgraph-beta-sdk-go (models.Entity, models.RemoteAssistanceSettings,
// models.RemoteAssistanceState, devicemanagement.RemoteAssistanceSettingsRequestBuilder and
// models/odataerrors). The shapes follow the generated code of the current beta SDK: models keep
// their values in a backing store (that is what makes the SDK send only changed properties and
// explicit nulls), unknown JSON keys land in additional data, unknown enum values parse to nil,
// and every operation maps any 4xx/5xx ("XXX") to ODataError. Only what this resource needs is
// kept; names and behaviour are the generated ones, the formatting is gofmt's.

import (
	"context"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoft/kiota-abstractions-go/store"
)

// ---- models.Entity -------------------------------------------------------------------------

// Entity is the base of every Graph entity: id, @odata.type and additional data, all held in a
// backing store.
type Entity struct {
	backingStore store.BackingStore
}

// NewEntity instantiates a new Entity and sets the default values.
func NewEntity() *Entity {
	m := &Entity{}
	m.backingStore = store.BackingStoreFactoryInstance()
	m.SetAdditionalData(make(map[string]any))
	return m
}

// GetAdditionalData gets the AdditionalData property value: keys of the payload the model does
// not describe (such as @odata.context).
func (m *Entity) GetAdditionalData() map[string]any {
	val, err := m.backingStore.Get("additionalData")
	if err != nil {
		panic(err)
	}
	if val == nil {
		var value = make(map[string]any)
		m.SetAdditionalData(value)
	}
	return val.(map[string]any)
}

// GetBackingStore gets the BackingStore property value.
func (m *Entity) GetBackingStore() store.BackingStore { return m.backingStore }

// GetFieldDeserializers the deserialization information for the current model.
func (m *Entity) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	res := make(map[string]func(absser.ParseNode) error)
	res["id"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetId(val)
		}
		return nil
	}
	res["@odata.type"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetOdataType(val)
		}
		return nil
	}
	return res
}

// GetId gets the id property value. The unique identifier for an entity. Read-only.
func (m *Entity) GetId() *string {
	val, err := m.GetBackingStore().Get("id")
	if err != nil {
		panic(err)
	}
	if val != nil {
		return val.(*string)
	}
	return nil
}

// GetOdataType gets the @odata.type property value.
func (m *Entity) GetOdataType() *string {
	val, err := m.GetBackingStore().Get("odataType")
	if err != nil {
		panic(err)
	}
	if val != nil {
		return val.(*string)
	}
	return nil
}

// Serialize serializes information the current object.
func (m *Entity) Serialize(writer absser.SerializationWriter) error {
	{
		err := writer.WriteStringValue("id", m.GetId())
		if err != nil {
			return err
		}
	}
	{
		err := writer.WriteStringValue("@odata.type", m.GetOdataType())
		if err != nil {
			return err
		}
	}
	{
		err := writer.WriteAdditionalData(m.GetAdditionalData())
		if err != nil {
			return err
		}
	}
	return nil
}

// SetAdditionalData sets the AdditionalData property value.
func (m *Entity) SetAdditionalData(value map[string]any) {
	err := m.GetBackingStore().Set("additionalData", value)
	if err != nil {
		panic(err)
	}
}

// SetBackingStore sets the BackingStore property value.
func (m *Entity) SetBackingStore(value store.BackingStore) { m.backingStore = value }

// SetId sets the id property value.
func (m *Entity) SetId(value *string) {
	err := m.GetBackingStore().Set("id", value)
	if err != nil {
		panic(err)
	}
}

// SetOdataType sets the @odata.type property value.
func (m *Entity) SetOdataType(value *string) {
	err := m.GetBackingStore().Set("odataType", value)
	if err != nil {
		panic(err)
	}
}

// Entityable is the generated interface of Entity.
type Entityable interface {
	absser.AdditionalDataHolder
	store.BackedModel
	absser.Parsable
	GetBackingStore() store.BackingStore
	GetId() *string
	GetOdataType() *string
	SetBackingStore(value store.BackingStore)
	SetId(value *string)
	SetOdataType(value *string)
}

// ---- models.RemoteAssistanceState ----------------------------------------------------------

// RemoteAssistanceState is the state of remote assistance for the account.
type RemoteAssistanceState int

const (
	// NOTCONFIGURED_REMOTEASSISTANCESTATE remote assistance settings not yet configured by the admin.
	NOTCONFIGURED_REMOTEASSISTANCESTATE RemoteAssistanceState = iota
	// DISABLED_REMOTEASSISTANCESTATE remote assistance is disabled for the account.
	DISABLED_REMOTEASSISTANCESTATE
	// ENABLED_REMOTEASSISTANCESTATE remote assistance is enabled for the account.
	ENABLED_REMOTEASSISTANCESTATE
)

func (i RemoteAssistanceState) String() string {
	return []string{"notConfigured", "disabled", "enabled"}[i]
}

// ParseRemoteAssistanceState parses the wire value; an unknown value parses to nil (and is
// dropped by the model), as Kiota generates it.
func ParseRemoteAssistanceState(v string) (any, error) {
	result := NOTCONFIGURED_REMOTEASSISTANCESTATE
	switch v {
	case "notConfigured":
		result = NOTCONFIGURED_REMOTEASSISTANCESTATE
	case "disabled":
		result = DISABLED_REMOTEASSISTANCESTATE
	case "enabled":
		result = ENABLED_REMOTEASSISTANCESTATE
	default:
		return nil, nil
	}
	return &result, nil
}

// SerializeRemoteAssistanceState serializes a collection of the enum.
func SerializeRemoteAssistanceState(values []RemoteAssistanceState) []string {
	result := make([]string, len(values))
	for i, v := range values {
		result[i] = v.String()
	}
	return result
}

// ---- models.RemoteAssistanceSettings -------------------------------------------------------

// RemoteAssistanceSettings remote assistance settings for the account.
type RemoteAssistanceSettings struct {
	Entity
}

// NewRemoteAssistanceSettings instantiates a new remoteAssistanceSettings and sets the default values.
func NewRemoteAssistanceSettings() *RemoteAssistanceSettings {
	m := &RemoteAssistanceSettings{
		Entity: *NewEntity(),
	}
	return m
}

// CreateRemoteAssistanceSettingsFromDiscriminatorValue creates a new instance of the appropriate
// class based on discriminator value.
func CreateRemoteAssistanceSettingsFromDiscriminatorValue(parseNode absser.ParseNode) (absser.Parsable, error) {
	return NewRemoteAssistanceSettings(), nil
}

// GetAllowSessionsToUnenrolledDevices gets the allowSessionsToUnenrolledDevices property value.
func (m *RemoteAssistanceSettings) GetAllowSessionsToUnenrolledDevices() *bool {
	val, err := m.GetBackingStore().Get("allowSessionsToUnenrolledDevices")
	if err != nil {
		panic(err)
	}
	if val != nil {
		return val.(*bool)
	}
	return nil
}

// GetBlockChat gets the blockChat property value.
func (m *RemoteAssistanceSettings) GetBlockChat() *bool {
	val, err := m.GetBackingStore().Get("blockChat")
	if err != nil {
		panic(err)
	}
	if val != nil {
		return val.(*bool)
	}
	return nil
}

// GetFieldDeserializers the deserialization information for the current model.
func (m *RemoteAssistanceSettings) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	res := m.Entity.GetFieldDeserializers()
	res["allowSessionsToUnenrolledDevices"] = func(n absser.ParseNode) error {
		val, err := n.GetBoolValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetAllowSessionsToUnenrolledDevices(val)
		}
		return nil
	}
	res["blockChat"] = func(n absser.ParseNode) error {
		val, err := n.GetBoolValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetBlockChat(val)
		}
		return nil
	}
	res["remoteAssistanceState"] = func(n absser.ParseNode) error {
		val, err := n.GetEnumValue(ParseRemoteAssistanceState)
		if err != nil {
			return err
		}
		if val != nil {
			m.SetRemoteAssistanceState(val.(*RemoteAssistanceState))
		}
		return nil
	}
	return res
}

// GetRemoteAssistanceState gets the remoteAssistanceState property value.
func (m *RemoteAssistanceSettings) GetRemoteAssistanceState() *RemoteAssistanceState {
	val, err := m.GetBackingStore().Get("remoteAssistanceState")
	if err != nil {
		panic(err)
	}
	if val != nil {
		return val.(*RemoteAssistanceState)
	}
	return nil
}

// Serialize serializes information the current object.
func (m *RemoteAssistanceSettings) Serialize(writer absser.SerializationWriter) error {
	err := m.Entity.Serialize(writer)
	if err != nil {
		return err
	}
	{
		err = writer.WriteBoolValue("allowSessionsToUnenrolledDevices", m.GetAllowSessionsToUnenrolledDevices())
		if err != nil {
			return err
		}
	}
	{
		err = writer.WriteBoolValue("blockChat", m.GetBlockChat())
		if err != nil {
			return err
		}
	}
	if m.GetRemoteAssistanceState() != nil {
		cast := (*m.GetRemoteAssistanceState()).String()
		err = writer.WriteStringValue("remoteAssistanceState", &cast)
		if err != nil {
			return err
		}
	}
	return nil
}

// SetAllowSessionsToUnenrolledDevices sets the allowSessionsToUnenrolledDevices property value.
func (m *RemoteAssistanceSettings) SetAllowSessionsToUnenrolledDevices(value *bool) {
	err := m.GetBackingStore().Set("allowSessionsToUnenrolledDevices", value)
	if err != nil {
		panic(err)
	}
}

// SetBlockChat sets the blockChat property value.
func (m *RemoteAssistanceSettings) SetBlockChat(value *bool) {
	err := m.GetBackingStore().Set("blockChat", value)
	if err != nil {
		panic(err)
	}
}

// SetRemoteAssistanceState sets the remoteAssistanceState property value.
func (m *RemoteAssistanceSettings) SetRemoteAssistanceState(value *RemoteAssistanceState) {
	err := m.GetBackingStore().Set("remoteAssistanceState", value)
	if err != nil {
		panic(err)
	}
}

// RemoteAssistanceSettingsable is the generated interface of RemoteAssistanceSettings.
type RemoteAssistanceSettingsable interface {
	Entityable
	absser.Parsable
	GetAllowSessionsToUnenrolledDevices() *bool
	GetBlockChat() *bool
	GetRemoteAssistanceState() *RemoteAssistanceState
	SetAllowSessionsToUnenrolledDevices(value *bool)
	SetBlockChat(value *bool)
	SetRemoteAssistanceState(value *RemoteAssistanceState)
}

// ---- models/odataerrors --------------------------------------------------------------------

// ODataError is the Graph error envelope, returned as the error of any failed call.
type ODataError struct {
	abs.ApiError
	additionalData map[string]any
	errorEscaped   MainErrorable
}

// NewODataError instantiates a new ODataError and sets the default values.
func NewODataError() *ODataError {
	m := &ODataError{
		ApiError: *abs.NewApiError(),
	}
	m.SetAdditionalData(make(map[string]any))
	return m
}

// CreateODataErrorFromDiscriminatorValue creates a new instance of the appropriate class based
// on discriminator value.
func CreateODataErrorFromDiscriminatorValue(parseNode absser.ParseNode) (absser.Parsable, error) {
	return NewODataError(), nil
}

// Error the primary error message. As generated, it dereferences error.message unconditionally.
func (m *ODataError) Error() string {
	return *(m.GetErrorEscaped().GetMessage())
}

// GetAdditionalData gets the AdditionalData property value.
func (m *ODataError) GetAdditionalData() map[string]any { return m.additionalData }

// GetErrorEscaped gets the error property value.
func (m *ODataError) GetErrorEscaped() MainErrorable { return m.errorEscaped }

// GetFieldDeserializers the deserialization information for the current model.
func (m *ODataError) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	res := make(map[string]func(absser.ParseNode) error)
	res["error"] = func(n absser.ParseNode) error {
		val, err := n.GetObjectValue(CreateMainErrorFromDiscriminatorValue)
		if err != nil {
			return err
		}
		if val != nil {
			m.SetErrorEscaped(val.(MainErrorable))
		}
		return nil
	}
	return res
}

// Serialize serializes information the current object.
func (m *ODataError) Serialize(writer absser.SerializationWriter) error {
	{
		err := writer.WriteObjectValue("error", m.GetErrorEscaped())
		if err != nil {
			return err
		}
	}
	{
		err := writer.WriteAdditionalData(m.GetAdditionalData())
		if err != nil {
			return err
		}
	}
	return nil
}

// SetAdditionalData sets the AdditionalData property value.
func (m *ODataError) SetAdditionalData(value map[string]any) { m.additionalData = value }

// SetErrorEscaped sets the error property value.
func (m *ODataError) SetErrorEscaped(value MainErrorable) { m.errorEscaped = value }

// MainError is error.code, error.message, error.target and error.innerError.
type MainError struct {
	additionalData map[string]any
	code           *string
	innerError     InnerErrorable
	message        *string
	target         *string
}

// NewMainError instantiates a new MainError and sets the default values.
func NewMainError() *MainError {
	m := &MainError{}
	m.SetAdditionalData(make(map[string]any))
	return m
}

// CreateMainErrorFromDiscriminatorValue creates a new instance of the appropriate class based
// on discriminator value.
func CreateMainErrorFromDiscriminatorValue(parseNode absser.ParseNode) (absser.Parsable, error) {
	return NewMainError(), nil
}

func (m *MainError) GetAdditionalData() map[string]any { return m.additionalData }
func (m *MainError) GetCode() *string                  { return m.code }
func (m *MainError) GetInnerError() InnerErrorable     { return m.innerError }
func (m *MainError) GetMessage() *string               { return m.message }
func (m *MainError) GetTarget() *string                { return m.target }

// GetFieldDeserializers the deserialization information for the current model. (The generated
// model also reads "details"; the service never sends it, and it would land in additional data.)
func (m *MainError) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	res := make(map[string]func(absser.ParseNode) error)
	res["code"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetCode(val)
		}
		return nil
	}
	res["innerError"] = func(n absser.ParseNode) error {
		val, err := n.GetObjectValue(CreateInnerErrorFromDiscriminatorValue)
		if err != nil {
			return err
		}
		if val != nil {
			m.SetInnerError(val.(InnerErrorable))
		}
		return nil
	}
	res["message"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetMessage(val)
		}
		return nil
	}
	res["target"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetTarget(val)
		}
		return nil
	}
	return res
}

// Serialize serializes information the current object.
func (m *MainError) Serialize(writer absser.SerializationWriter) error {
	if err := writer.WriteStringValue("code", m.GetCode()); err != nil {
		return err
	}
	if err := writer.WriteObjectValue("innerError", m.GetInnerError()); err != nil {
		return err
	}
	if err := writer.WriteStringValue("message", m.GetMessage()); err != nil {
		return err
	}
	if err := writer.WriteStringValue("target", m.GetTarget()); err != nil {
		return err
	}
	return writer.WriteAdditionalData(m.GetAdditionalData())
}

func (m *MainError) SetAdditionalData(value map[string]any) { m.additionalData = value }
func (m *MainError) SetCode(value *string)                  { m.code = value }
func (m *MainError) SetInnerError(value InnerErrorable)     { m.innerError = value }
func (m *MainError) SetMessage(value *string)               { m.message = value }
func (m *MainError) SetTarget(value *string)                { m.target = value }

// MainErrorable is the generated interface of MainError.
type MainErrorable interface {
	absser.AdditionalDataHolder
	absser.Parsable
	GetCode() *string
	GetInnerError() InnerErrorable
	GetMessage() *string
	GetTarget() *string
	SetCode(value *string)
	SetInnerError(value InnerErrorable)
	SetMessage(value *string)
	SetTarget(value *string)
}

// InnerError is error.innerError: client-request-id, date and request-id.
type InnerError struct {
	additionalData  map[string]any
	clientRequestId *string
	date            *time.Time
	requestId       *string
}

// NewInnerError instantiates a new InnerError and sets the default values.
func NewInnerError() *InnerError {
	m := &InnerError{}
	m.SetAdditionalData(make(map[string]any))
	return m
}

// CreateInnerErrorFromDiscriminatorValue creates a new instance of the appropriate class based
// on discriminator value.
func CreateInnerErrorFromDiscriminatorValue(parseNode absser.ParseNode) (absser.Parsable, error) {
	return NewInnerError(), nil
}

func (m *InnerError) GetAdditionalData() map[string]any { return m.additionalData }
func (m *InnerError) GetClientRequestId() *string       { return m.clientRequestId }
func (m *InnerError) GetDate() *time.Time               { return m.date }
func (m *InnerError) GetRequestId() *string             { return m.requestId }

// GetFieldDeserializers the deserialization information for the current model. "date" is read
// with GetTimeValue, as generated: the service's zone-less "2006-01-02T15:04:05" must parse.
func (m *InnerError) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	res := make(map[string]func(absser.ParseNode) error)
	res["client-request-id"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetClientRequestId(val)
		}
		return nil
	}
	res["date"] = func(n absser.ParseNode) error {
		val, err := n.GetTimeValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetDate(val)
		}
		return nil
	}
	res["request-id"] = func(n absser.ParseNode) error {
		val, err := n.GetStringValue()
		if err != nil {
			return err
		}
		if val != nil {
			m.SetRequestId(val)
		}
		return nil
	}
	return res
}

// Serialize serializes information the current object.
func (m *InnerError) Serialize(writer absser.SerializationWriter) error {
	if err := writer.WriteStringValue("client-request-id", m.GetClientRequestId()); err != nil {
		return err
	}
	if err := writer.WriteTimeValue("date", m.GetDate()); err != nil {
		return err
	}
	if err := writer.WriteStringValue("request-id", m.GetRequestId()); err != nil {
		return err
	}
	return writer.WriteAdditionalData(m.GetAdditionalData())
}

func (m *InnerError) SetAdditionalData(value map[string]any) { m.additionalData = value }
func (m *InnerError) SetClientRequestId(value *string)       { m.clientRequestId = value }
func (m *InnerError) SetDate(value *time.Time)               { m.date = value }
func (m *InnerError) SetRequestId(value *string)             { m.requestId = value }

// InnerErrorable is the generated interface of InnerError.
type InnerErrorable interface {
	absser.AdditionalDataHolder
	absser.Parsable
	GetClientRequestId() *string
	GetDate() *time.Time
	GetRequestId() *string
	SetClientRequestId(value *string)
	SetDate(value *time.Time)
	SetRequestId(value *string)
}

// ---- devicemanagement.RemoteAssistanceSettingsRequestBuilder -------------------------------

// RemoteAssistanceSettingsRequestBuilder provides operations to manage the
// remoteAssistanceSettings property of the microsoft.graph.deviceManagement entity.
type RemoteAssistanceSettingsRequestBuilder struct {
	abs.BaseRequestBuilder
}

// RemoteAssistanceSettingsRequestBuilderGetQueryParameters the remote assistance settings singleton.
type RemoteAssistanceSettingsRequestBuilderGetQueryParameters struct {
	// Expand related entities
	Expand []string `uriparametername:"%24expand"`
	// Select properties to be returned
	Select []string `uriparametername:"%24select"`
}

// RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration configuration for the request
// such as headers, query parameters, and middleware options.
type RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration struct {
	Headers         *abs.RequestHeaders
	Options         []abs.RequestOption
	QueryParameters *RemoteAssistanceSettingsRequestBuilderGetQueryParameters
}

// RemoteAssistanceSettingsRequestBuilderPatchRequestConfiguration configuration for the request
// such as headers, query parameters, and middleware options.
type RemoteAssistanceSettingsRequestBuilderPatchRequestConfiguration struct {
	Headers *abs.RequestHeaders
	Options []abs.RequestOption
}

// remoteAssistanceSettingsURLTemplate is the generated URL template of the operation.
const remoteAssistanceSettingsURLTemplate = "{+baseurl}/deviceManagement/remoteAssistanceSettings{?%24select,%24expand}"

// NewRemoteAssistanceSettingsRequestBuilderInternal instantiates a new
// RemoteAssistanceSettingsRequestBuilder and sets the default values.
func NewRemoteAssistanceSettingsRequestBuilderInternal(pathParameters map[string]string, requestAdapter abs.RequestAdapter) *RemoteAssistanceSettingsRequestBuilder {
	m := &RemoteAssistanceSettingsRequestBuilder{
		BaseRequestBuilder: *abs.NewBaseRequestBuilder(requestAdapter, remoteAssistanceSettingsURLTemplate, pathParameters),
	}
	return m
}

// odataErrorMapping is the error mapping every generated Graph operation passes: any 4xx or
// 5xx status is deserialized as ODataError.
func odataErrorMapping() abs.ErrorMappings {
	return abs.ErrorMappings{
		"XXX": CreateODataErrorFromDiscriminatorValue,
	}
}

// Get the remote assistance settings singleton.
func (m *RemoteAssistanceSettingsRequestBuilder) Get(ctx context.Context, requestConfiguration *RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration) (RemoteAssistanceSettingsable, error) {
	requestInfo, err := m.ToGetRequestInformation(ctx, requestConfiguration)
	if err != nil {
		return nil, err
	}
	res, err := m.BaseRequestBuilder.RequestAdapter.Send(ctx, requestInfo, CreateRemoteAssistanceSettingsFromDiscriminatorValue, odataErrorMapping())
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	return res.(RemoteAssistanceSettingsable), nil
}

// Patch update the navigation property remoteAssistanceSettings in deviceManagement.
func (m *RemoteAssistanceSettingsRequestBuilder) Patch(ctx context.Context, body RemoteAssistanceSettingsable, requestConfiguration *RemoteAssistanceSettingsRequestBuilderPatchRequestConfiguration) (RemoteAssistanceSettingsable, error) {
	requestInfo, err := m.ToPatchRequestInformation(ctx, body, requestConfiguration)
	if err != nil {
		return nil, err
	}
	res, err := m.BaseRequestBuilder.RequestAdapter.Send(ctx, requestInfo, CreateRemoteAssistanceSettingsFromDiscriminatorValue, odataErrorMapping())
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	return res.(RemoteAssistanceSettingsable), nil
}

// ToGetRequestInformation the remote assistance settings singleton.
func (m *RemoteAssistanceSettingsRequestBuilder) ToGetRequestInformation(ctx context.Context, requestConfiguration *RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration) (*abs.RequestInformation, error) {
	requestInfo := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.GET, m.BaseRequestBuilder.UrlTemplate, m.BaseRequestBuilder.PathParameters)
	if requestConfiguration != nil {
		if requestConfiguration.QueryParameters != nil {
			requestInfo.AddQueryParameters(*(requestConfiguration.QueryParameters))
		}
		requestInfo.Headers.AddAll(requestConfiguration.Headers)
		requestInfo.AddRequestOptions(requestConfiguration.Options)
	}
	requestInfo.Headers.TryAdd("Accept", "application/json")
	return requestInfo, nil
}

// ToPatchRequestInformation update the navigation property remoteAssistanceSettings in deviceManagement.
func (m *RemoteAssistanceSettingsRequestBuilder) ToPatchRequestInformation(ctx context.Context, body RemoteAssistanceSettingsable, requestConfiguration *RemoteAssistanceSettingsRequestBuilderPatchRequestConfiguration) (*abs.RequestInformation, error) {
	requestInfo := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.PATCH, m.BaseRequestBuilder.UrlTemplate, m.BaseRequestBuilder.PathParameters)
	if requestConfiguration != nil {
		requestInfo.Headers.AddAll(requestConfiguration.Headers)
		requestInfo.AddRequestOptions(requestConfiguration.Options)
	}
	requestInfo.Headers.TryAdd("Accept", "application/json")
	err := requestInfo.SetContentFromParsable(ctx, m.BaseRequestBuilder.RequestAdapter, "application/json", body)
	if err != nil {
		return nil, err
	}
	return requestInfo, nil
}
